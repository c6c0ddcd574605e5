"""The shared recommendation floor: what two or more steps need to agree on about recommendation.

Prompts and candidates, log-prob helpers and padding, ranking metrics and candidate scoring, generation matching,
the comparison report, the popularity and SASRec models' load-and-score halves, and the iLoRA and RecICL model
formats and inference. It imports `components.common` only; steps import it and `common`, never each other
(tests/unit/test_layering.py). Training halves stay in their steps.
"""
