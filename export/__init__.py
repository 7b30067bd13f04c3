"""Export a trained DVN: one checked, measured .tflite (LiteRT) model per (task, level) + manifest.json.

    python -m export --workdir=DIR [--quantize=none|float16|dynamic|int8|int8-qat] [--out=DIR/tflite]

Modules: loading (read the run), convert (Keras -> .tflite), qat (int8-qat in a
child process), verify (LiteRT accuracy and float32 parity), probe / measure
(latency and memory cost in a fresh process), manifest (schema and atomic
writes), exporter (the loop over (task, level)s).
"""
