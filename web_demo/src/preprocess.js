/**
 * An image (anything canvas can draw) -> the model's normalized float input,
 * computed as dvn_runtime/preprocess.py does: resized to the manifest's H x W,
 * grayscale with Pillow's luma formula when C is 1, scaled to [0, 1], then
 * (x - mean) / std per channel, in float32 arithmetic.
 */

/** RGBA pixels (Uint8ClampedArray, H x W x 4) of `source` drawn at width x height. */
export function drawPixels(source, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(source, 0, 0, width, height);
  return context.getImageData(0, 0, width, height).data;
}

/** Pillow's convert("L"): L = (299 R + 587 G + 114 B) / 1000 in 16-bit fixed point. */
function luma(r, g, b) {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/**
 * RGBA pixels -> Float32Array of H * W * C normalized values.
 * `input` is a manifest input spec {channels, mean, std}.
 */
export function normalize(rgba, input) {
  const {channels} = input;
  const mean = input.mean.map(Math.fround);
  const std = input.std.map(Math.fround);
  const count = rgba.length / 4;
  const out = new Float32Array(count * channels);
  for (let i = 0; i < count; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    const values = channels === 1 ? [luma(r, g, b)] : [r, g, b];
    for (let c = 0; c < channels; c++) {
      const unit = Math.fround(values[c] / 255);
      const m = mean.length === 1 ? mean[0] : mean[c];
      const s = std.length === 1 ? std[0] : std[c];
      out[i * channels + c] = Math.fround(Math.fround(unit - m) / s);
    }
  }
  return out;
}

/** Softmax of logits; outputs that already are a distribution pass through (as the runtime). */
export function probabilities(scores) {
  const sum = scores.reduce((a, b) => a + b, 0);
  if (Math.min(...scores) >= 0 && Math.abs(sum - 1) < 1e-3) return Array.from(scores);
  const top = Math.max(...scores);
  const exps = Array.from(scores, (s) => Math.exp(s - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/** The `k` best [index, probability] pairs, best first (ties keep index order). */
export function topK(probs, k = 5) {
  return probs.map((p, i) => [i, p]).sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, k);
}
