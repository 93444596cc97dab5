"""Kernel data-structure helpers, named and called as in drgn (``drgn.helpers.linux.*``).

Each submodule covers one kernel concept and lists its public names in ``__all__``;
``from kdbg.helpers import *`` brings them all. The names load on first use (PEP 562,
:class:`kdbg.lazy.LazyNames`): importing one submodule, or this package, does not import
the others, so a command imports only the helpers it calls.

To add a module, add its row to :data:`_TABLE` (the module and its ``__all__``, in order)
and its ``from kdbg.helpers.X import *`` line under ``TYPE_CHECKING`` (for the type
checker); ``tests/test_lazy_names.py`` checks the table against every submodule's own
``__all__``.
"""

from typing import TYPE_CHECKING, Any, List, Sequence, Tuple

from kdbg.errors import ValidationError as ValidationError
from kdbg.lazy import LazyNames

if TYPE_CHECKING:
    from kdbg.helpers.addrspace import *  # noqa: F401,F403
    from kdbg.helpers.bitmap import *  # noqa: F401,F403
    from kdbg.helpers.bitops import *  # noqa: F401,F403
    from kdbg.helpers.block import *  # noqa: F401,F403
    from kdbg.helpers.boot import *  # noqa: F401,F403
    from kdbg.helpers.bpf import *  # noqa: F401,F403
    from kdbg.helpers.cgroup import *  # noqa: F401,F403
    from kdbg.helpers.completion import *  # noqa: F401,F403
    from kdbg.helpers.cpumask import *  # noqa: F401,F403
    from kdbg.helpers.device import *  # noqa: F401,F403
    from kdbg.helpers.format import *  # noqa: F401,F403
    from kdbg.helpers.fs import *  # noqa: F401,F403
    from kdbg.helpers.hugetlb import *  # noqa: F401,F403
    from kdbg.helpers.identify import *  # noqa: F401,F403
    from kdbg.helpers.idr import *  # noqa: F401,F403
    from kdbg.helpers.ioport import *  # noqa: F401,F403
    from kdbg.helpers.ipc import *  # noqa: F401,F403
    from kdbg.helpers.irq import *  # noqa: F401,F403
    from kdbg.helpers.kallsyms import *  # noqa: F401,F403
    from kdbg.helpers.kconfig import *  # noqa: F401,F403
    from kdbg.helpers.kernfs import *  # noqa: F401,F403
    from kdbg.helpers.kthread import *  # noqa: F401,F403
    from kdbg.helpers.list import *  # noqa: F401,F403
    from kdbg.helpers.list_nulls import *  # noqa: F401,F403
    from kdbg.helpers.llist import *  # noqa: F401,F403
    from kdbg.helpers.locking import *  # noqa: F401,F403
    from kdbg.helpers.mapletree import *  # noqa: F401,F403
    from kdbg.helpers.meminfo import *  # noqa: F401,F403
    from kdbg.helpers.mm import *  # noqa: F401,F403
    from kdbg.helpers.mmzone import *  # noqa: F401,F403
    from kdbg.helpers.module import *  # noqa: F401,F403
    from kdbg.helpers.net import *  # noqa: F401,F403
    from kdbg.helpers.nodemask import *  # noqa: F401,F403
    from kdbg.helpers.panic import *  # noqa: F401,F403
    from kdbg.helpers.pci import *  # noqa: F401,F403
    from kdbg.helpers.percpu import *  # noqa: F401,F403
    from kdbg.helpers.pid import *  # noqa: F401,F403
    from kdbg.helpers.plist import *  # noqa: F401,F403
    from kdbg.helpers.printk import *  # noqa: F401,F403
    from kdbg.helpers.prog import *  # noqa: F401,F403
    from kdbg.helpers.rbtree import *  # noqa: F401,F403
    from kdbg.helpers.registers import *  # noqa: F401,F403
    from kdbg.helpers.resource import *  # noqa: F401,F403
    from kdbg.helpers.sbitmap import *  # noqa: F401,F403
    from kdbg.helpers.sched import *  # noqa: F401,F403
    from kdbg.helpers.signal import *  # noqa: F401,F403
    from kdbg.helpers.slab import *  # noqa: F401,F403
    from kdbg.helpers.stack import *  # noqa: F401,F403
    from kdbg.helpers.stackdepot import *  # noqa: F401,F403
    from kdbg.helpers.swait import *  # noqa: F401,F403
    from kdbg.helpers.swap import *  # noqa: F401,F403
    from kdbg.helpers.sysfs import *  # noqa: F401,F403
    from kdbg.helpers.tc import *  # noqa: F401,F403
    from kdbg.helpers.tcp import *  # noqa: F401,F403
    from kdbg.helpers.timekeeping import *  # noqa: F401,F403
    from kdbg.helpers.timer import *  # noqa: F401,F403
    from kdbg.helpers.types import *  # noqa: F401,F403
    from kdbg.helpers.user import *  # noqa: F401,F403
    from kdbg.helpers.utsname import *  # noqa: F401,F403
    from kdbg.helpers.vmalloc import *  # noqa: F401,F403
    from kdbg.helpers.vmstat import *  # noqa: F401,F403
    from kdbg.helpers.wait import *  # noqa: F401,F403
    from kdbg.helpers.xarray import *  # noqa: F401,F403

#: Every helper submodule (but the internal ``common`` and ``cpu_stacks``) and its ``__all__``, in the order
#: ``__all__`` lists them.
_TABLE: Sequence[Tuple[str, Sequence[str]]] = (
    ("cpumask", (
        "cpu_online_mask", "cpu_possible_mask", "cpu_present_mask", "cpumask_of", "cpumask_to_cpulist",
        "cpumask_weight", "for_each_cpu", "for_each_online_cpu", "for_each_possible_cpu",
        "for_each_present_cpu", "num_online_cpus", "num_possible_cpus", "num_present_cpus",
    )),
    ("format", (
        "CellFormat", "RowOptions", "decode_enum_type_flags", "decode_flags", "double_quote_ascii_string",
        "escape_ascii_character", "escape_ascii_string", "number_in_binary_units", "print_table",
    )),
    ("fs", (
        "address_space_for_each_page", "d_path", "decode_file_type", "dentry_path", "fget", "for_each_file",
        "for_each_mount", "inode_for_each_page", "inode_path", "inode_paths", "mount_dst", "mount_fstype",
        "mount_src", "path_lookup", "print_files", "print_mounts", "super_block_for_each_mount",
    )),
    ("idr", ("idr_find", "idr_for_each", "idr_for_each_entry",)),
    ("list", (
        "hlist_empty", "hlist_for_each", "hlist_for_each_entry", "list_count_nodes", "list_empty",
        "list_first_entry", "list_first_entry_or_null", "list_for_each", "list_for_each_entry",
        "list_for_each_entry_reverse", "list_for_each_reverse", "list_is_singular", "list_last_entry",
        "list_next_entry", "list_prev_entry", "validate_list", "validate_list_count_nodes",
        "validate_list_for_each", "validate_list_for_each_entry",
    )),
    ("mm", (
        "InvalidAddressError", "PFN_PHYS", "PHYS_PFN", "PageBuddy", "PageCompound", "PageHead", "PageSlab",
        "PageTail", "PageUsage", "compound_head", "compound_nr", "compound_order", "decode_page_flags",
        "decode_page_flags_value", "folio_page", "for_each_page", "in_direct_map", "page_flags", "page_folio",
        "page_index", "page_size", "page_to_pfn", "page_to_phys", "page_to_virt", "pfn_to_page", "pfn_to_virt",
        "phys_to_page", "phys_to_virt", "totalram_pages", "virt_to_page", "virt_to_pfn", "virt_to_phys",
        "vmalloc_to_page", "vmalloc_to_pfn", "PageActive", "PageChecked", "PageDirty", "PageDoubleMap",
        "PageError", "PageForeign", "PageHWPoison", "PageHasHWPoisoned", "PageIdle", "PageIsolated", "PageLRU",
        "PageLocked", "PageMappedToDisk", "PageMlocked", "PageOwnerPriv1", "PagePinned", "PagePrivate",
        "PagePrivate2", "PageReadahead", "PageReclaim", "PageReferenced", "PageReported", "PageReserved",
        "PageSavePinned", "PageSkipKASanPoison", "PageSlobFree", "PageSwapBacked", "PageUncached",
        "PageUnevictable", "PageUptodate", "PageVmemmapSelfHosted", "PageWaiters", "PageWorkingset",
        "PageWriteback", "PageXenRemapped", "PageYoung",
    )),
    ("module", (
        "for_each_module", "find_module", "module_address_regions", "module_percpu_region", "address_to_module",
        "module_taints", "module_name", "module_base", "module_total_size", "module_refcount", "module_state",
        "module_users", "module_kallsyms", "module_build_id",
    )),
    ("percpu", ("per_cpu", "per_cpu_ptr", "percpu_counter_sum", "percpu_counter_sum_positive",)),
    ("pid", ("find_pid", "find_task", "for_each_pid", "for_each_task", "for_each_task_in_group", "pid_task",)),
    ("printk", ("PrintkRecord", "get_dmesg", "get_printk_records", "print_dmesg",)),
    ("prog", ("takes_object_or_program_or_default", "takes_program_or_default",)),
    ("rbtree", (
        "RB_EMPTY_NODE", "RB_EMPTY_ROOT", "rb_find", "rb_first", "rb_last", "rb_next", "rb_parent", "rb_prev",
        "rbtree_inorder_for_each", "rbtree_inorder_for_each_entry", "rbtree_preorder_for_each",
        "rbtree_preorder_for_each_entry", "validate_rbtree", "validate_rbtree_inorder_for_each_entry",
    )),
    ("sched", (
        "cfs_rq_for_each_entity", "cpu_curr", "cpu_rq", "get_task_state", "idle_task", "latest_rq_clock", "loadavg",
        "rq_for_each_fair_task", "rq_for_each_rt_task", "sched_entity_is_task", "sched_entity_to_task",
        "task_cpu", "task_group_name", "task_group_sched_entity", "task_on_cpu", "task_rq",
        "task_since_last_arrival_ns", "task_state_to_char", "task_thread_info", "thread_group_leader",
    )),
    ("slab", (
        "SlabCacheUsage", "SlabObjectInfo", "SlabState", "SlabTotalUsage", "find_containing_slab_cache",
        "find_slab_cache",
        "for_each_slab_cache", "get_slab_cache_aliases", "print_slab_caches",
        "slab_cache_for_each_allocated_object", "slab_cache_is_merged", "slab_cache_objects_per_slab",
        "slab_cache_order", "slab_cache_pages_per_slab", "slab_cache_usage", "slab_object_info",
        "slab_state", "slab_total_usage",
    )),
    ("stackdepot", ("stack_depot_fetch",)),
    ("types", ("enum_type_to_class", "member_at_offset", "typeof_member",)),
    ("utsname", ("uts_name", "uts_release",)),
    ("xarray", (
        "radix_tree_for_each", "radix_tree_lookup", "xa_for_each", "xa_is_value", "xa_is_zero", "xa_load",
        "xa_to_value",
    )),
    ("addrspace", (
        "TaskRss", "access_process_vm", "access_remote_vm", "cmdline", "environ", "follow_page", "follow_pfn",
        "follow_phys", "for_each_vma", "mm_cmdline", "mm_environ", "page_table_leaf", "page_table_walk", "task_rss",
        "task_vsize", "vma_find", "vma_name",
    )),
    ("boot", ("kaslr_offset", "pgtable_l5_enabled",)),
    ("bpf", (
        "bpf_btf_for_each", "bpf_link_for_each", "bpf_map_by_id", "bpf_map_for_each", "bpf_prog_by_id",
        "bpf_prog_for_each", "bpf_prog_used_maps", "cgroup_bpf_prog_for_each",
        "cgroup_bpf_prog_for_each_effective",
    )),
    ("hugetlb", ("for_each_hstate", "huge_page_size", "hugetlb_total_pages", "hugetlb_total_usage",)),
    ("identify", (
        "IdentifiedPage", "IdentifiedSlabObject", "IdentifiedSymbol", "IdentifiedTaskStack",
        "IdentifiedTaskStruct", "IdentifiedVmap", "identify_address", "identify_address_all",
        "print_annotated_memory", "print_annotated_stack",
    )),
    ("ioport", ("for_each_resource",)),
    ("ipc", (
        "decode_sysv_shm_flags", "decode_sysv_shm_mode_flags", "find_sysv_msg_queue", "find_sysv_sem_array",
        "find_sysv_shm", "for_each_sysv_msg_queue", "for_each_sysv_sem_array", "for_each_sysv_shm",
    )),
    ("kallsyms", ("load_module_kallsyms", "load_vmlinux_kallsyms",)),
    ("kconfig", ("get_kconfig",)),
    ("meminfo", ("vm_commit_limit", "vm_memory_committed",)),
    ("mmzone", (
        "NODE_DATA", "decode_memory_block_state", "decode_memory_block_state_value", "for_each_memory_block",
        "decode_section_flags", "early_section", "early_section_nr", "for_each_online_pgdat",
        "for_each_present_section", "for_each_valid_page_range", "for_each_valid_pfn_and_page",
        "high_wmark_pages", "low_wmark_pages", "memory_block_size_bytes", "min_wmark_pages", "nr_to_section",
        "online_section", "online_section_nr", "pfn_to_section", "pfn_to_section_nr", "present_section",
        "present_section_nr", "section_decode_mem_map", "section_mem_map_addr", "section_nr_to_pfn",
        "valid_section", "valid_section_nr", "wmark_pages",
    )),
    ("nodemask", (
        "for_each_node", "for_each_node_mask", "for_each_node_state", "for_each_online_node", "node_state",
        "nr_node_ids",
    )),
    ("panic", ("panic_message", "panic_task", "tainted",)),
    ("registers", ("print_registers",)),
    ("resource", ("Rlimit", "task_rlimits",)),
    ("sbitmap", ("sbitmap_for_each_set",)),
    ("signal", (
        "decode_sigaction_flags", "decode_sigaction_flags_value", "decode_sigset", "sigaction_flags",
        "signal_names", "signal_numbers", "sigpending_for_each", "sigset_to_hex", "task_sigpending",
    )),
    ("stack", ("StackKind", "StackSegment", "LinuxKernelStack", "kernel_stack_trace",)),
    ("swap", (
        "for_each_swap_info", "swap_file_path", "swap_is_file", "swap_total_usage", "swap_usage_in_pages",
        "total_swapcache_pages",
    )),
    ("timekeeping", (
        "ktime_get_boottime_seconds", "ktime_get_clocktai_seconds", "ktime_get_coarse_boottime_ns",
        "ktime_get_coarse_clocktai_ns", "ktime_get_coarse_ns", "ktime_get_coarse_real_ns",
        "ktime_get_real_seconds", "ktime_get_seconds", "ktime_to_ns", "uptime", "uptime_pretty",
    )),
    ("timer", ("hrtimer_clock_base_for_each", "timer_base_for_each", "timer_base_names",)),
    ("user", ("find_user", "for_each_user", "kuid_val",)),
    ("vmalloc", ("find_vmap_area", "for_each_vmap_area",)),
    ("vmstat", (
        "global_node_page_state", "global_numa_event_state", "global_vm_event_state", "global_zone_page_state",
        "nr_free_pages", "zone_page_state",
    )),
    ("audit", ("AUDIT_QUEUES", "AuditMessage", "audit_messages",)),
    ("bitmap", ("bitmap_weight",)),
    ("bitops", ("for_each_clear_bit", "for_each_set_bit", "test_bit",)),
    ("block", (
        "bdev_partno", "blk_mq_rq_from_pdu", "blk_mq_rq_to_pdu", "blk_rq_bytes", "blk_rq_pos", "disk_devt",
        "disk_name", "for_each_disk", "for_each_partition", "nr_blockdev_pages", "op_is_write", "part_devt",
        "part_name", "print_disks", "print_partitions", "req_op", "request_queue_busy_iter", "rq_data_dir",
    )),
    ("cgroup", (
        "cgroup_get_from_path", "cgroup_name", "cgroup_parent", "cgroup_path", "css_for_each_child",
        "css_for_each_descendant_pre", "css_next_child", "css_next_descendant_pre", "sock_cgroup_ptr",
    )),
    ("completion", ("completion_done", "completion_for_each_task",)),
    ("device", (
        "MAJOR", "MINOR", "MKDEV", "bus_for_each_dev", "bus_to_subsys", "class_for_each_device",
        "class_to_subsys", "dev_name", "for_each_registered_blkdev", "for_each_registered_chrdev",
    )),
    ("irq", (
        "for_each_irq_desc", "gate_desc_func", "irq_desc_action_names", "irq_desc_affinity_mask",
        "irq_desc_chip_name", "irq_desc_kstat_cpu", "irq_get_nr_irqs", "irq_to_desc",
    )),
    ("kernfs", ("kernfs_children", "kernfs_name", "kernfs_parent", "kernfs_path", "kernfs_root", "kernfs_walk",)),
    ("kthread", ("kthread_data", "task_is_kthread", "to_kthread",)),
    ("list_nulls", ("hlist_nulls_empty", "hlist_nulls_for_each_entry", "is_a_nulls",)),
    ("llist", (
        "llist_empty", "llist_first_entry", "llist_first_entry_or_null", "llist_for_each",
        "llist_for_each_entry", "llist_is_singular", "llist_next_entry",
    )),
    ("locking", ("RwsemLocked", "mutex_owner", "rwsem_locked", "rwsem_owner",)),
    ("mapletree", ("mt_for_each", "mtree_load",)),
    ("net", (
        "SOCKET_I", "SOCK_INODE", "for_each_net", "for_each_netdev", "get_net_ns_by_fd", "get_net_ns_by_inode",
        "is_pp_page", "neigh_table_for_each_neighbor", "netdev_for_each_tx_queue", "netdev_get_by_index",
        "netdev_get_by_name", "netdev_ipv4_addrs", "netdev_ipv6_addrs", "netdev_name", "netdev_priv",
        "sk_fullsock", "sk_nulls_for_each", "skb_shinfo", "SockAddresses", "sock_addresses",
    )),
    ("pci", (
        "for_each_pci_dev", "for_each_pci_root_bus", "pci_bus_for_each_child", "pci_bus_for_each_dev",
        "pci_bus_name", "pci_is_bridge", "pci_name", "pci_pcie_type",
    )),
    ("plist", (
        "plist_first_entry", "plist_for_each", "plist_for_each_entry", "plist_head_empty", "plist_last_entry",
        "plist_node_empty",
    )),
    ("swait", ("swait_active", "swait_for_each_task",)),
    ("sysfs", ("kobject_path", "sysfs_listdir", "sysfs_lookup", "sysfs_lookup_kobject", "sysfs_lookup_node",)),
    ("tc", ("qdisc_lookup",)),
    ("tcp", ("sk_tcpstate",)),
    ("wait", ("waitqueue_active", "waitqueue_for_each_entry", "waitqueue_for_each_task",)),
)

#: Helper name -> the submodule that defines it.
_HOMES = LazyNames.by_module([(f"{__name__}.{module}", names) for module, names in _TABLE])

__all__: List[str] = ["ValidationError", *_HOMES]

_resolve = _HOMES.module_getattr(__name__, globals())


def __getattr__(name: str) -> Any:
    return _resolve(name)


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_HOMES))
