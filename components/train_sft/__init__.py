"""LLM recommender fine-tuning: LoRA SFT on LLaRA-style prompts with TRL's SFTTrainer (single or torchrun)."""
