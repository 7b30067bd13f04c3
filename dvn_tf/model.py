"""The DVN model: one sliced backbone, one head per task, all (task, level)s trained jointly."""

import keras
import tensorflow as tf
from keras import ops

from dvn_tf.backbones import build_stages
from dvn_tf.layers import SwitchableBatchNorm, TaskHead, as_plan


def metric_name(task_name, level):
    """The name under which (task, level)'s accuracy is logged."""
    return f"{task_name}_L{level}_acc"


def confusion_name(task_name, level):
    """The name of (task, level)'s confusion-matrix metric."""
    return f"{task_name}_L{level}_confusion"


class ConfusionMatrix(keras.metrics.Metric):
    """Weighted counts `[true class, predicted class]` of argmax predictions; result() is the matrix.

    Examples of weight 0 (evaluation_dataset's padding) count nothing. The
    counts are float32 variables summed over replicas, exact up to 2**24 per cell.
    """

    def __init__(self, num_classes, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = num_classes
        self.counts = self.add_variable(shape=(num_classes, num_classes), initializer="zeros",
                                        name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        true = ops.one_hot(ops.cast(ops.reshape(y_true, [-1]), "int32"), self.num_classes)
        if sample_weight is not None:
            true = true * ops.reshape(ops.cast(sample_weight, true.dtype), [-1, 1])
        predicted = ops.one_hot(ops.argmax(y_pred, axis=-1), self.num_classes)
        self.counts.assign_add(ops.matmul(ops.transpose(true), predicted))

    def result(self):
        return ops.convert_to_tensor(self.counts)

    def reset_state(self):
        self.counts.assign(ops.zeros((self.num_classes, self.num_classes)))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def distillation_loss(student_logits, teacher_logits, temperature):
    """LwF's temperature-scaled KL(teacher || student), times T^2, averaged over the batch."""
    teacher_log_probs = ops.log_softmax(teacher_logits / temperature, axis=-1)
    student_log_probs = ops.log_softmax(student_logits / temperature, axis=-1)
    per_example = ops.sum(ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs),
                          axis=-1)
    return temperature ** 2 * ops.mean(per_example)


def optimizer_step(optimizer, variables, compute_loss, rate_scales=None):
    """Run compute_loss() under a tape, step the optimizer on the variables it reaches, return the loss.

    The loss is divided by the replicas in sync (each replica's gradients are
    summed) and scaled when the optimizer is a LossScaleOptimizer.
    `rate_scales` (one number per variable) multiplies each variable's
    gradient: under SGD with momentum, its learning rate.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape() as tape:
        loss = compute_loss()
        scaled_loss = optimizer.scale_loss(loss / replicas)
    gradients = tape.gradient(scaled_loss, variables)
    if rate_scales is not None:
        gradients = [g if g is None or scale == 1 else g * scale
                     for g, scale in zip(gradients, rate_scales)]
    used = [(g, v) for g, v in zip(gradients, variables) if g is not None]
    optimizer.apply([g for g, _ in used], [v for _, v in used])
    return loss


@keras.saving.register_keras_serializable(package="dvn")
class DVNModel(keras.Model):
    """Deep virtual networks over a sliced backbone (METHOD.md, Eq. 2).

    `call(images, task=j, level=l)` runs task j's virtual network at level l
    (task 0-based, level 1-based; level None means the whole network).
    `train_step` takes a dict {task name: (images, labels)} with one batch
    per task and sums the cross-entropy over every (task, level) in one tape,
    one optimizer step. `test_step` takes {task name: (images, labels, weights)}.

    Args:
      task_names: one name per task.
      num_classes: classes per task.
      plan: the UnitPlan (or its config).
      input_shape: (H, W, C), or one per task when they differ.
      backbone: 'resnet-N', 'wrn-N-S' or 'mobilenetv2'.
      base_width: ResNet and WRN: stem width; stage widths are base_width * widen * (1, 2, 4).
      width_multiplier: MobileNetV2's width multiplier (Keras's alpha).
      depth_coefficient: MobileNetV2's share of blocks per row (1: Keras's 17).
        Its strides follow the smallest input size.
      level_weights: loss weight per level (all 1 when None).
      per_level_heads: a head per level instead of a sliced shared head.
      inplace_distill_weight: in-place distillation (US-Nets): each level below
        the top also fits the top level's softened predictions of the same
        task, this weight times KD at `inplace_distill_temperature`, with no
        gradient to the teacher (0: off, Eq. 2 alone).
      class_weights: per task, None or a loss weight per class (dvn_tf/data/balance.py):
        every level's cross-entropy weights each example by its class's weight.
    """

    def __init__(self, task_names, num_classes, plan, input_shape, backbone="resnet-20",
                 base_width=16, dropout=0.0, bn_momentum=0.9, level_weights=None,
                 per_level_heads=False, label_smoothing=0.0, width_multiplier=1.0,
                 depth_coefficient=1.0, inplace_distill_weight=0.0,
                 inplace_distill_temperature=1.0, class_weights=None, **kwargs):
        super().__init__(**kwargs)
        self.plan = as_plan(plan)
        self.task_names = list(task_names)
        self.num_classes = list(num_classes)
        if not (len(self.task_names) == len(self.num_classes) == self.plan.num_tasks):
            raise ValueError(
                f"DVNModel: need one distinct name and class count per order, got "
                f"{len(self.task_names)} names, {len(self.num_classes)} class counts, "
                f"{self.plan.num_tasks} orders")
        shapes = input_shape if isinstance(input_shape[0], (list, tuple)) else [input_shape]
        self.input_shapes = [tuple(s) for s in shapes] * (self.plan.num_tasks // len(shapes))
        if len(self.input_shapes) != self.plan.num_tasks:
            raise ValueError(f"DVNModel: need one input shape or one per task, got {input_shape}")
        self.level_weights = list(level_weights or [1.0] * self.plan.units)
        if len(self.level_weights) != self.plan.units:
            raise ValueError(
                f"DVNModel: need {self.plan.units} level weights, got {self.level_weights}")
        self.backbone, self.base_width, self.dropout = backbone, base_width, dropout
        self.bn_momentum, self.per_level_heads = bn_momentum, per_level_heads
        self.label_smoothing, self.width_multiplier = label_smoothing, width_multiplier
        self.depth_coefficient = depth_coefficient
        if inplace_distill_weight < 0 or inplace_distill_temperature <= 0:
            raise ValueError(f"DVNModel: need inplace_distill_weight >= 0 and "
                             f"inplace_distill_temperature > 0, got {inplace_distill_weight} "
                             f"and {inplace_distill_temperature}")
        self.inplace_distill_weight = inplace_distill_weight
        self.inplace_distill_temperature = inplace_distill_temperature
        self.class_weights = list(class_weights or [None] * self.plan.num_tasks)
        if [len(w) for w in self.class_weights if w is not None] != [
                n for w, n in zip(self.class_weights, self.num_classes) if w is not None]:
            raise ValueError(f"DVNModel: need None or one weight per class for each task, got "
                             f"class_weights={class_weights} for num_classes={self.num_classes}")
        self.stages, self.feature_width = build_stages(
            backbone, self.plan, base_width, dropout, bn_momentum, width_multiplier,
            depth_coefficient, input_size=min(min(shape[:2]) for shape in self.input_shapes))
        self.heads = [TaskHead(n, self.feature_width, self.plan, task, per_level_heads,
                               name=f"head_{name}")
                      for task, (name, n) in enumerate(zip(self.task_names, num_classes))]
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_metrics = [keras.metrics.SparseCategoricalAccuracy(
                                     name=metric_name(name, level))
                                 for name in self.task_names for level in self.levels]
        self.confusion_metrics = [ConfusionMatrix(n, name=confusion_name(name, level))
                                  for name, n in zip(self.task_names, self.num_classes)
                                  for level in self.levels]

    @property
    def levels(self):
        return range(1, self.plan.units + 1)

    @property
    def metrics(self):
        return [self.loss_tracker, *self.accuracy_metrics, *self.confusion_metrics]

    def accuracy(self, task, level):
        """The accuracy metric of (task, level)."""
        return self.accuracy_metrics[task * self.plan.units + level - 1]

    def confusion(self, task, level):
        """The confusion-matrix metric of (task, level), updated by test_step only."""
        return self.confusion_metrics[task * self.plan.units + level - 1]

    def build(self, input_shape=None):
        """Create every weight: each stage builds its full-width sublayers, then the heads."""
        shape = (None, *self.input_shapes[0])
        for stage in self.stages:
            stage.build(shape)
            shape = (None, None, None, stage.width)
        for head in self.heads:
            head.build((None, self.feature_width))
        self.built = True

    def call(self, images, *, task=0, level=None, training=False):
        level = self.plan.units if level is None else level
        features = self.features(images, task=task, level=level, training=training)
        logits = self.heads[task](features, level=level)
        return ops.cast(logits, "float32")  # losses and metrics in float32 under mixed precision

    def features(self, images, *, task=0, level=None, training=False):
        """The globally average-pooled last feature map of (task, level): the heads' input."""
        level = self.plan.units if level is None else level
        self.plan.check(task, level)
        x = images
        for stage in self.stages:
            x = stage(x, task=task, level=level, training=training)
        return ops.mean(x, axis=(1, 2))

    def task_loss(self, labels, logits, class_weights=None):
        """Mean cross-entropy; labels are class ids, or per-class probabilities (MixUp/CutMix).

        With `class_weights` (one per class), each example's cross-entropy is
        weighted by its labels' weights (a mixed label mixes them).
        """
        if len(labels.shape) == 1:
            labels = ops.one_hot(labels, logits.shape[-1])
        per_example = keras.losses.categorical_crossentropy(
            labels, logits, from_logits=True, label_smoothing=self.label_smoothing)
        if class_weights is not None:
            per_example *= ops.sum(ops.cast(labels, "float32") * ops.convert_to_tensor(
                class_weights, "float32"), axis=-1)
        return ops.mean(per_example)

    def per_task(self, data):
        """[(task index, batch)] for the tasks present in a step's data, in task order."""
        batches, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        unknown = set(batches) - set(self.task_names)
        if unknown:
            raise ValueError(f"batches for unknown tasks {sorted(unknown)}; "
                             f"the model's tasks are {self.task_names}")
        return [(t, batches[name]) for t, name in enumerate(self.task_names) if name in batches]

    def hierarchy_loss(self, data, training):
        """Eq. 2 (Eq. 1 for one task): the weighted sum of every present (task, level)'s cross-entropy.

        With in-place distillation on, plus its terms (`inplace_distillation`).
        """
        total = 0.0
        for task, (images, labels) in self.per_task(data):
            class_ids = labels if len(labels.shape) == 1 else ops.argmax(labels, axis=-1)
            logits = {}
            for level in self.levels:
                logits[level] = self(images, task=task, level=level, training=training)
                total += self.level_weights[level - 1] * self.task_loss(
                    labels, logits[level], self.class_weights[task])
                self.accuracy(task, level).update_state(class_ids, logits[level])
            if self.inplace_distill_weight:
                total += self.inplace_distill_weight * self.inplace_distillation(logits)
        return total

    def inplace_distillation(self, logits):
        """Sum over the levels below the top of KD to the top level's logits, held constant.

        `logits` maps each level to one task's logits from the same forward
        passes as the cross-entropy: the teacher is not run again.
        """
        teacher = ops.stop_gradient(logits[self.plan.units])
        return sum(distillation_loss(logits[level], teacher, self.inplace_distill_temperature)
                   for level in self.levels if level < self.plan.units)

    def step_logs(self, data, *extra_metrics):
        """The loss and the accuracy of every (task, level) present in a step's data."""
        present = [self.accuracy(task, level) for task, _ in self.per_task(data)
                   for level in self.levels]
        return {m.name: m.result() for m in [*extra_metrics, *present]}

    def task_private_variables(self, tasks):
        """Trainable variables only the given tasks use: their heads and their batch norms."""
        private = [v for t in tasks for v in self.heads[t].trainable_variables]
        for layer in self._flatten_layers():
            if isinstance(layer, SwitchableBatchNorm):
                private += [v for t in tasks for level in self.levels
                            for v in layer.norm(t, level).trainable_variables]
        return private

    def trained_variables(self):
        """The variables a train step updates: every trainable one."""
        return self.trainable_variables

    def train_step(self, data):
        loss = optimizer_step(self.optimizer, self.trained_variables(),
                              lambda: self.hierarchy_loss(data, training=True))
        self.loss_tracker.update_state(loss)
        return self.step_logs(data, self.loss_tracker)

    def test_step(self, data):
        for task, (images, labels, weights) in self.per_task(data):
            for level in self.levels:
                logits = self(images, task=task, level=level, training=False)
                self.accuracy(task, level).update_state(labels, logits, sample_weight=weights)
                self.confusion(task, level).update_state(labels, logits, sample_weight=weights)
        return self.step_logs(data)

    def to_plain(self, task, level):
        """A functional Keras model of plain layers holding exactly (task, level)'s weights."""
        self.plan.check(task, level)
        inputs = keras.Input(self.input_shapes[task], name="image")
        x = inputs
        for stage in self.stages:
            x = stage.apply_plain(x, task, level)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = self.heads[task].apply_plain(x, level)
        return keras.Model(inputs, outputs, name=f"{self.task_names[task]}_level{level}")

    def get_config(self):
        return {**super().get_config(), "task_names": self.task_names,
                "num_classes": self.num_classes, "plan": self.plan.get_config(),
                "input_shape": [list(s) for s in self.input_shapes],
                "backbone": self.backbone, "base_width": self.base_width,
                "dropout": self.dropout, "bn_momentum": self.bn_momentum,
                "level_weights": self.level_weights, "per_level_heads": self.per_level_heads,
                "label_smoothing": self.label_smoothing,
                "width_multiplier": self.width_multiplier,
                "depth_coefficient": self.depth_coefficient,
                "inplace_distill_weight": self.inplace_distill_weight,
                "inplace_distill_temperature": self.inplace_distill_temperature,
                "class_weights": self.class_weights}
