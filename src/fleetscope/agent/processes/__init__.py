"""Per-process samples, process-exporter style grouping, group counters and top-N views.

Reading stays in agent.linux.pidscan (Linux) and agent.processes.psutil_source (elsewhere);
everything else here is pure over ProcessSample maps.
"""
