"""Knowledge editing of LLM recommenders: AlphaEdit (null-space constrained, Fang et al., ICLR 2025) and MEMIT
(Meng et al., ICLR 2023) as its baseline, on facts about catalogue items."""
