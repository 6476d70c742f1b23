"""The per-host agent: watches desired state and reconciles the kernel to it."""
