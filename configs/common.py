"""Fields every scenario shares, with their defaults; scenarios override what differs."""

import ml_collections


def base_config():
    """The config fields read by dvn_tf.train, with defaults."""
    c = ml_collections.ConfigDict()
    c.scenario = ""
    c.method = "dvn"  # dvn | nested | independent; sequential also finetune | feature_extraction
    c.seed = 0
    # Tasks: dicts with name, dataset ("digits", "folder" or any tfds image dataset) and optional
    # label_key, classes or groups, augment, mix, image_size (see dvn_tf/data/tfds_tasks.py);
    # a folder task has path and granularity (dvn_tf/data/folder_tasks.py).
    # A tuple, so --config.tasks="({'name': 'a', 'dataset': 'mnist'}, ...)" can set them.
    c.tasks = ()
    # Sequential scenarios learn the tasks one stage at a time (Eq. 4), distilling the old ones.
    c.sequential = False
    c.distill_temperature = 2.0
    c.distill_weight = 1.0
    # Every stage after the first (and --from): `stage_warmup_epochs` epochs that train only the
    # new tasks' heads and batch norms (LwF's warm-up), then the stage's other epochs train
    # everything from a peak rate of learning_rate * stage_rate_fraction, the shared units and
    # the old tasks' batch norms at stage_shared_rate_fraction of it (docs/training.md,
    # "Sequential stages": a stage that restarts every variable at the peak rate can lose
    # the old tasks in its first epoch).
    c.stage_warmup_epochs = 1
    c.stage_rate_fraction = 1.0
    c.stage_shared_rate_fraction = 0.5
    # Set by --from=RUN (dvn_tf/grow.py): the finished run this one grows, and how many of the
    # tasks (the last ones) it adds; RUN's tasks come first.
    c.grown_from = ml_collections.config_dict.placeholder(str)
    c.new_tasks = 0
    c.data_dir = ml_collections.config_dict.placeholder(str)
    c.download = True  # download a dataset missing from data_dir (tfds); false: no network
    c.train_examples = ml_collections.config_dict.placeholder(int)  # per task; None: all
    c.test_fraction = 0.25  # embedded digits only: held-out share of the stratified split
    # Folder tasks: the side images are resized to (None: from the data, printed), and the
    # held-out share of each class when the folder has no test/ or val/ split.
    c.image_size = ml_collections.config_dict.placeholder(int)
    c.holdout = 0.2
    # Network.
    c.backbone = "resnet-20"  # resnet-N | wrn-N-S | mobilenetv2
    c.base_width = 16  # resnet and wrn: stem width
    c.width_multiplier = 1.0  # mobilenetv2: Keras's alpha
    c.depth_coefficient = 1.0  # mobilenetv2: share of its blocks per row, 1 = Keras's 17
    # A saved Keras MobileNetV2 (.keras) to start the full-width layers from (dvn_tf/pretrained.py).
    c.init_from = ml_collections.config_dict.placeholder(str)
    c.dropout = 0.0
    c.bn_momentum = 0.9
    c.units = 2
    c.order_rule = "nearest"
    c.unit_fractions = ml_collections.config_dict.placeholder(tuple)
    c.per_level_heads = False
    c.level_weights = ml_collections.config_dict.placeholder(tuple)
    c.label_smoothing = 0.0
    # Small classes: auto | none | weights | sampling (dvn_tf/data/balance.py). auto balances a
    # task whose largest class has more than 3x the training examples of its smallest.
    c.balance = "auto"
    # In-place distillation (US-Nets): levels below the top also fit the top level's softened
    # predictions of the same task, weight times KD at this temperature (0: off).
    c.inplace_distill_weight = 0.0
    c.inplace_distill_temperature = 1.0
    # Optimization.
    c.epochs = 30
    c.batch_size = 64
    c.learning_rate = 0.1
    c.momentum = 0.9
    c.weight_decay = 5e-4
    c.schedule = "cosine"  # cosine | step
    c.step_epochs = (0.5, 0.75)  # step schedule: fractions of training where the rate drops 10x
    c.jit_compile = False
    # Run the train and test steps eagerly, without tf.function: for debugging, and faster for
    # runs of a few steps, where tracing the steps costs more than running them.
    c.run_eagerly = False
    c.strategy = "default"
    # multi_worker: seconds to wait for every worker to come up and for each collective op.
    c.worker_timeout = 600
    c.precision = "float32"  # float32 | mixed_bfloat16 | mixed_float16 (Keras dtype policy)
    return c


def paper_config():
    """base_config() with the paper's kind of GPU training for the CIFAR-scale scenarios.

    [choice] where the notes are silent: WRN-28-10, SGD with momentum 0.9,
    batch 128 per task, rate 0.1 divided by 10 at 50% and 75% of training
    (He et al.'s CIFAR schedule), weight decay 5e-4, 200 epochs.
    """
    c = base_config()
    c.backbone = "wrn-28-10"
    c.base_width = 16
    c.epochs = 200
    c.batch_size = 128
    c.learning_rate = 0.1
    c.momentum = 0.9
    c.weight_decay = 5e-4
    c.schedule = "step"
    c.step_epochs = (0.5, 0.75)
    return c
