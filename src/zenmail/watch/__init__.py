"""Live watch: metrics, end-to-end probes, alerts, protocol health checks, doctor, trace.

The watch engine sits beside the other engines: it reads the directory and the stack's
state (pids, queues, logs) and never changes either, except for its own tables
(`watch.models`) and the restarts the supervisor asks for. See docs/watch.md.
"""
