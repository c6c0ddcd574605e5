"""Preference alignment of LLM recommenders: the loss table (DPO, IPO, SimPO, α-DPO, RosePO) and its trainer."""
