"""Sequential learning (METHOD.md, Eq. 4): learn new tasks while distilling a frozen old network."""

import keras

from dvn_tf.model import distillation_loss, optimizer_step


class SequentialTrainer(keras.Model):
    """Trains `student` on the new tasks' batches; keeps the old tasks through distillation.

    For every new-task batch it adds, for each old task j and level l,
    `weight * KD_T(student_j^l(x), teacher_j^l(x))` to the new tasks'
    hierarchy loss. The student's old-task passes run in training mode, as in
    LwF (with inference-mode batch norm the distillation diverged on digits).
    `weight = 0` is fine-tuning (the teacher is not run). With
    `private_only`, only the new tasks' heads and batch norms are trained:
    feature extraction. `shared_rate_fraction` scales the learning rate of
    every trained variable that is not the new tasks' own (the shared units
    and the old tasks' batch norms).
    """

    def __init__(self, student, teacher, old_tasks, new_tasks, temperature=2.0, weight=1.0,
                 private_only=False, shared_rate_fraction=1.0, **kwargs):
        super().__init__(**kwargs)
        if temperature <= 0 or weight < 0 or not 0 < shared_rate_fraction <= 1:
            raise ValueError(f"need temperature > 0, weight >= 0 and 0 < shared_rate_fraction "
                             f"<= 1, got temperature={temperature}, weight={weight}, "
                             f"shared_rate_fraction={shared_rate_fraction}")
        self.student, self.teacher = student, teacher
        self.teacher.trainable = False
        self.old_tasks, self.new_tasks = list(old_tasks), list(new_tasks)
        self.temperature, self.weight, self.private_only = temperature, weight, private_only
        private = {id(v) for v in student.task_private_variables(self.new_tasks)}
        self.rate_scales = [1.0 if id(v) in private else shared_rate_fraction
                            for v in self.trained_variables()]
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.distill_tracker = keras.metrics.Mean(name="distill_loss")
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.distill_tracker, *self.student.accuracy_metrics,
                *self.student.confusion_metrics]

    def call(self, images, *, task=0, level=None, training=False):
        return self.student(images, task=task, level=level, training=training)

    def trained_variables(self):
        """All the student's variables, or only the new tasks' private ones (feature extraction)."""
        if self.private_only:
            return self.student.task_private_variables(self.new_tasks)
        return self.student.trainable_variables

    def old_task_distillation(self, data):
        """Sum over the new batches, old tasks and levels of the distillation loss."""
        total = 0.0
        for _, (images, _) in self.student.per_task(data):
            for task in self.old_tasks:
                for level in self.student.levels:
                    total += distillation_loss(
                        self.student(images, task=task, level=level, training=True),
                        self.teacher(images, task=task, level=level, training=False),
                        self.temperature)
        return total

    def train_step(self, data):
        def compute_loss():
            loss = self.student.hierarchy_loss(data, training=True)
            if self.weight:
                distill = self.old_task_distillation(data)
                self.distill_tracker.update_state(distill)
                loss += self.weight * distill
            return loss

        loss = optimizer_step(self.optimizer, self.trained_variables(), compute_loss,
                              self.rate_scales)
        self.loss_tracker.update_state(loss)
        return self.student.step_logs(data, self.loss_tracker, self.distill_tracker)

    def test_step(self, data):
        return self.student.test_step(data)
