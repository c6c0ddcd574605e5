"""Classic baselines: a popularity ranker and SASRec (Kang & McAuley 2018), also RosePO's oracle and iLoRA's encoder."""
