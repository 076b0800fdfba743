"""The floor's domain: arbiter, roster, rules, timers, fairness and the claim use case."""
