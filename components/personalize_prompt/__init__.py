"""The prompt-personalization step (RPP / RPP+, Mao et al., TOIS 2025): per-user prompts for a frozen LLM ranker,
chosen by four reinforcement-learning agents."""
