"""The four prompt agents of RPP (Mao et al., TOIS 2025): one categorical actor-critic per prompt pattern (role,
history length, reasoning, output format), all fed the same state and trained on the same reward, the ranking's
NDCG@10.

Update: textbook one-step TD, delta = r + gamma * V(s') * (1 - done) - V(s); the critic minimises delta^2 and the
actor -log pi(a|s) * delta (delta held fixed) minus an entropy bonus. The reference code swaps s and s' (its
"TD" is gamma * V(s) + r - V(s'), and its critic regresses gamma * V(s) onto V(s')); we do not (README,
deviations). Its critic's BatchNorm is left out: a round may hold a single user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TDLosses:
    actor: torch.Tensor  # scalar
    critic: torch.Tensor  # scalar
    delta: torch.Tensor  # (batch,) the TD errors, detached


def td_losses(
    log_prob: torch.Tensor,  # (batch,) log pi(a|s) of the actions taken
    entropy: torch.Tensor,  # (batch,) entropy of pi(.|s)
    value: torch.Tensor,  # (batch,) V(s)
    next_value: torch.Tensor,  # (batch,) V(s'), not differentiated
    reward: torch.Tensor,  # (batch,)
    done: torch.Tensor,  # (batch,) 1.0 where s' is terminal
    gamma: float,
    entropy_weight: float,
) -> TDLosses:
    target = reward + gamma * next_value.detach() * (1.0 - done)  # (batch,)
    delta = target - value  # (batch,)
    critic = delta.pow(2).mean()
    actor = -(log_prob * delta.detach()).mean() - entropy_weight * entropy.mean()
    return TDLosses(actor, critic, delta.detach())


class ActorCritic(nn.Module):
    """Actor: MLP(state -> hidden -> actions) with a softmax policy; critic: MLP(state -> hidden -> 1)."""

    def __init__(self, state_dim: int, actions: int, hidden: int = 64) -> None:
        super().__init__()
        self.actor = nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU(), nn.Linear(hidden, actions))
        self.critic = nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def policy(self, state: torch.Tensor) -> torch.distributions.Categorical:  # state (batch, state_dim)
        return torch.distributions.Categorical(logits=self.actor(state))

    def value(self, state: torch.Tensor) -> torch.Tensor:  # (batch, state_dim) -> (batch,)
        return self.critic(state).squeeze(-1)


@dataclass(frozen=True)
class AgentSettings:
    gamma: float = 0.95
    actor_lr: float = 3e-4
    critic_lr: float = 5e-4
    entropy_weight: float = 0.01
    hidden: int = 64


@dataclass
class Step:
    """What one round of acting left for the update: per agent, the actions, their log-probabilities, the policies'
    entropies and the values of the state acted in."""

    actions: dict[str, torch.Tensor]  # agent -> (batch,) int64
    log_probs: dict[str, torch.Tensor]  # agent -> (batch,)
    entropies: dict[str, torch.Tensor]  # agent -> (batch,)
    values: dict[str, torch.Tensor]  # agent -> (batch,)


class PromptAgents:
    """One ActorCritic per prompt pattern (`actions`: pattern -> number of choices), seeded, each with its own
    Adam optimisers for actor and critic."""

    def __init__(
        self, actions: Mapping[str, int], state_dim: int, settings: AgentSettings = AgentSettings(), seed: int = 0
    ) -> None:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.settings = settings
        self.nets = {name: ActorCritic(state_dim, n, settings.hidden) for name, n in actions.items()}
        torch.random.set_rng_state(generator_state)
        self.actor_opt = {n: torch.optim.Adam(m.actor.parameters(), lr=settings.actor_lr) for n, m in self.nets.items()}
        self.critic_opt = {
            n: torch.optim.Adam(m.critic.parameters(), lr=settings.critic_lr) for n, m in self.nets.items()
        }
        self.generator = torch.Generator().manual_seed(seed)

    def act(self, state: torch.Tensor, greedy: bool = False) -> Step:
        """Sample (or, `greedy`, take the most likely) action of every agent for each row of `state`
        (batch, state_dim)."""
        step = Step({}, {}, {}, {})
        for name, net in self.nets.items():
            policy = net.policy(state)
            if greedy:
                action = policy.probs.argmax(-1)
            else:
                action = torch.multinomial(policy.probs, 1, generator=self.generator).squeeze(-1)
            step.actions[name] = action
            step.log_probs[name] = policy.log_prob(action)
            step.entropies[name] = policy.entropy()
            step.values[name] = net.value(state)
        return step

    def update(self, step: Step, next_state: torch.Tensor, reward: torch.Tensor, done: bool) -> dict[str, float]:
        """One TD update of every agent from `step`, the reward (batch,) and the next state; returns the mean TD
        error per agent."""
        finished = torch.full_like(reward, 1.0 if done else 0.0)
        errors: dict[str, float] = {}
        for name, net in self.nets.items():
            with torch.no_grad():
                next_value = net.value(next_state)
            losses = td_losses(
                step.log_probs[name], step.entropies[name], step.values[name], next_value, reward, finished,
                self.settings.gamma, self.settings.entropy_weight,
            )  # fmt: skip
            self.actor_opt[name].zero_grad()
            self.critic_opt[name].zero_grad()
            (losses.actor + losses.critic).backward()
            self.actor_opt[name].step()
            self.critic_opt[name].step()
            errors[name] = float(losses.delta.mean())
        return errors

    def state_dict(self) -> dict[str, dict]:
        """Every agent's network weights (the optimisers' moments are not kept: evaluation only acts)."""
        return {name: net.state_dict() for name, net in self.nets.items()}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state[name])

    def probabilities(self, state: torch.Tensor) -> dict[str, list[float]]:
        """Each agent's mean action distribution over the rows of `state` (for the report)."""
        with torch.no_grad():
            return {name: net.policy(state).probs.mean(0).tolist() for name, net in self.nets.items()}


def action_names(sets: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """pattern -> number of actions, for `PromptAgents`."""
    return {name: len(options) for name, options in sets.items()}
