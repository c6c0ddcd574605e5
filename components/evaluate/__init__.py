"""The evaluate step: ranking metrics, candidate scoring, generative evaluation, bias, and reports."""
