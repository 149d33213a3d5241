"""Train GAM-YOLO models with the Ultralytics trainer (the optional ``train`` extra).

* :mod:`.register` - GAM rows (``GAM``, ``GAM_Attention``, ``GAMAttention``) in Ultralytics
  model YAMLs, channels from the graph;
* :mod:`.trainer` - ``GamDetectionTrainer``: Ultralytics' detection trainer with GAM
  registered in every process (multi-GPU workers included);
* :mod:`.transfer` - start a GAM model from a baseline checkpoint (read safely), every
  matching tensor remapped around the inserted GAM layers, with a report;
* :mod:`.env` - offline settings (call before Ultralytics is imported);
* :mod:`.cli` - ``gam-viewer train key=value ...``.

Only :mod:`.register`, :mod:`.trainer` and :mod:`.cli` (when it trains) import Ultralytics;
importing this package does not.
"""
