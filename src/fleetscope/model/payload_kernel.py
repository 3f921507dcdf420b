"""Payload records for the kernel-wide counters node_exporter's default collectors report beyond
our headline figures: the rest of /proc/meminfo, /proc/stat's softirqs, the protocol MIB
counters of /proc/net/{snmp,netstat,snmp6}, every /proc/net/sockstat{,6} line, and
/proc/sys/fs/file-nr. Base units throughout (bytes, counts; counters end in _total).

They live here rather than in model/payload.py, which imports them, to keep that module
readable; they share its Struct base (model/wire.py: unknown fields ignored within a schema
version, a field at its default left out of the JSON). Every field is optional: a kernel that
lacks a line leaves it None, never 0, and an older agent sends none of them.
"""

from __future__ import annotations

from fleetscope.model.wire import NonNegative, Strict


class MemoryDetail(Strict, frozen=True, kw_only=True):
    """Every /proc/meminfo line not already a field of MemorySection, in bytes (the kernel's
    kB are KiB); hugepages_surplus is a page count, as the kernel prints it. The kernel name
    of each field is in agent/collectors/memory.py MEMINFO_FIELDS."""

    active_bytes: NonNegative | None = None
    inactive_bytes: NonNegative | None = None
    active_anon_bytes: NonNegative | None = None
    inactive_anon_bytes: NonNegative | None = None
    active_file_bytes: NonNegative | None = None
    inactive_file_bytes: NonNegative | None = None
    unevictable_bytes: NonNegative | None = None
    mlocked_bytes: NonNegative | None = None
    swap_cached_bytes: NonNegative | None = None
    zswap_bytes: NonNegative | None = None
    zswapped_bytes: NonNegative | None = None
    dirty_bytes: NonNegative | None = None
    writeback_bytes: NonNegative | None = None
    anon_pages_bytes: NonNegative | None = None
    mapped_bytes: NonNegative | None = None
    kreclaimable_bytes: NonNegative | None = None
    slab_reclaimable_bytes: NonNegative | None = None
    slab_unreclaimable_bytes: NonNegative | None = None
    kernel_stack_bytes: NonNegative | None = None
    shadow_call_stack_bytes: NonNegative | None = None
    page_tables_bytes: NonNegative | None = None
    sec_page_tables_bytes: NonNegative | None = None
    nfs_unstable_bytes: NonNegative | None = None
    bounce_bytes: NonNegative | None = None
    writeback_tmp_bytes: NonNegative | None = None
    commit_limit_bytes: NonNegative | None = None
    committed_as_bytes: NonNegative | None = None
    vmalloc_total_bytes: NonNegative | None = None
    vmalloc_used_bytes: NonNegative | None = None
    vmalloc_chunk_bytes: NonNegative | None = None
    percpu_bytes: NonNegative | None = None
    hardware_corrupted_bytes: NonNegative | None = None
    anon_huge_pages_bytes: NonNegative | None = None
    shmem_huge_pages_bytes: NonNegative | None = None
    shmem_pmd_mapped_bytes: NonNegative | None = None
    file_huge_pages_bytes: NonNegative | None = None
    file_pmd_mapped_bytes: NonNegative | None = None
    cma_total_bytes: NonNegative | None = None
    cma_free_bytes: NonNegative | None = None
    unaccepted_bytes: NonNegative | None = None
    balloon_bytes: NonNegative | None = None
    hugepages_surplus: NonNegative | None = None
    hugetlb_bytes: NonNegative | None = None
    high_total_bytes: NonNegative | None = None
    high_free_bytes: NonNegative | None = None
    low_total_bytes: NonNegative | None = None
    low_free_bytes: NonNegative | None = None
    mmap_copy_bytes: NonNegative | None = None
    quicklists_bytes: NonNegative | None = None
    direct_map_4k_bytes: NonNegative | None = None
    direct_map_4m_bytes: NonNegative | None = None
    direct_map_2m_bytes: NonNegative | None = None
    direct_map_1g_bytes: NonNegative | None = None


class Softirqs(Strict, frozen=True, kw_only=True):
    """Softirqs handled since boot per vector, all CPUs (/proc/stat `softirq`; the names are
    kernel/softirq.c's softirq_to_name, lower-cased as node_exporter labels them;
    a vector an older kernel lacks is None)."""

    hi: NonNegative | None = None
    timer: NonNegative | None = None
    net_tx: NonNegative | None = None
    net_rx: NonNegative | None = None
    block: NonNegative | None = None
    block_iopoll: NonNegative | None = None
    tasklet: NonNegative | None = None
    sched: NonNegative | None = None
    hrtimer: NonNegative | None = None
    rcu: NonNegative | None = None


class NetstatCounters(Strict, frozen=True, kw_only=True):
    """The protocol MIB counters node_exporter's netstat collector keeps by default (its
    --collector.netstat.fields regex), IPv4 and IPv6, from /proc/net/snmp, /proc/net/netstat
    and /proc/net/snmp6. The kernel name of each field is in agent/collectors/network.py
    NETSTAT_FIELDS. `ip_forwarding` is RFC 1213's ipForwarding (1 forwarding, 2 not);
    `tcp_curr_estab` is snmp's gauge of ESTABLISHED + CLOSE_WAIT connections."""

    ip_forwarding: NonNegative | None = None
    ip_in_bytes_total: NonNegative | None = None
    ip_out_bytes_total: NonNegative | None = None
    ip6_in_bytes_total: NonNegative | None = None
    ip6_out_bytes_total: NonNegative | None = None
    icmp_in_messages_total: NonNegative | None = None
    icmp_out_messages_total: NonNegative | None = None
    icmp_in_errors_total: NonNegative | None = None
    icmp6_in_messages_total: NonNegative | None = None
    icmp6_out_messages_total: NonNegative | None = None
    icmp6_in_errors_total: NonNegative | None = None
    tcp_active_opens_total: NonNegative | None = None
    tcp_passive_opens_total: NonNegative | None = None
    tcp_in_segments_total: NonNegative | None = None
    tcp_out_segments_total: NonNegative | None = None
    tcp_retransmitted_segments_total: NonNegative | None = None
    tcp_out_resets_total: NonNegative | None = None
    tcp_in_errors_total: NonNegative | None = None
    tcp_curr_estab: NonNegative | None = None
    tcp_listen_overflows_total: NonNegative | None = None
    tcp_listen_drops_total: NonNegative | None = None
    tcp_syncookies_sent_total: NonNegative | None = None
    tcp_syncookies_received_total: NonNegative | None = None
    tcp_syncookies_failed_total: NonNegative | None = None
    tcp_syn_retransmits_total: NonNegative | None = None
    tcp_timeouts_total: NonNegative | None = None
    udp_in_datagrams_total: NonNegative | None = None
    udp_out_datagrams_total: NonNegative | None = None
    udp_no_ports_total: NonNegative | None = None
    udp_in_errors_total: NonNegative | None = None
    udp_receive_buffer_errors_total: NonNegative | None = None
    udp_send_buffer_errors_total: NonNegative | None = None
    udp6_in_datagrams_total: NonNegative | None = None
    udp6_out_datagrams_total: NonNegative | None = None
    udp6_no_ports_total: NonNegative | None = None
    udp6_in_errors_total: NonNegative | None = None
    udp6_receive_buffer_errors_total: NonNegative | None = None
    udp6_send_buffer_errors_total: NonNegative | None = None
    udplite_in_errors_total: NonNegative | None = None
    udplite6_in_errors_total: NonNegative | None = None


class SockstatCounts(Strict, frozen=True, kw_only=True):
    """Every /proc/net/sockstat and sockstat6 line per address family (NetworkSection's
    tcp_in_use and udp_in_use are IPv4 + IPv6 together). TCP and UDP memory is the kernel's
    page count times the page size; FRAG memory is printed in bytes."""

    sockets_used: NonNegative | None = None
    tcp_in_use: NonNegative | None = None
    tcp_orphans: NonNegative | None = None
    tcp_time_wait: NonNegative | None = None
    tcp_allocated: NonNegative | None = None
    tcp_memory_bytes: NonNegative | None = None
    udp_in_use: NonNegative | None = None
    udp_memory_bytes: NonNegative | None = None
    udplite_in_use: NonNegative | None = None
    raw_in_use: NonNegative | None = None
    frag_in_use: NonNegative | None = None
    frag_memory_bytes: NonNegative | None = None
    tcp6_in_use: NonNegative | None = None
    udp6_in_use: NonNegative | None = None
    udplite6_in_use: NonNegative | None = None
    raw6_in_use: NonNegative | None = None
    frag6_in_use: NonNegative | None = None
    frag6_memory_bytes: NonNegative | None = None


class FileHandlesSection(Strict, frozen=True, kw_only=True):
    """/proc/sys/fs/file-nr: file handles the kernel has allocated, and its limit
    (fs.file-max), as node_exporter's node_filefd_allocated and node_filefd_maximum."""

    allocated: NonNegative
    maximum: NonNegative
