"""The local fan-out: rep connections, the team hub, stream tails and what each entry delivers."""
