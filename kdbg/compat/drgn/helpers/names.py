"""The public names of each of drgn 0.3.0's helper modules (its API, as documented).

Each ``drgn.helpers.linux.X`` and ``drgn.helpers.common.X`` module inside kdbg exports
the ones kdbg implements (:mod:`kdbg.helpers`, under the same names); asking for another
is one line saying kdbg does not support it.
"""

from typing import Dict, Tuple

__all__ = ["DRGN_HELPERS"]

#: ``module -> names`` (``"linux.pid"``, ``"common.format"``).
DRGN_HELPERS: Dict[str, Tuple[str, ...]] = {
    "linux.bitmap": (
        "bitmap_weight",
    ),
    "linux.bitops": (
        "for_each_clear_bit", "for_each_set_bit", "test_bit",
    ),
    "linux.block": (
        "bdev_partno", "blk_mq_rq_from_pdu", "blk_mq_rq_to_pdu", "blk_rq_bytes", "blk_rq_pos", "disk_devt",
        "disk_name", "for_each_disk", "for_each_partition", "nr_blockdev_pages", "op_is_write", "part_devt",
        "part_name", "print_disks", "print_partitions", "req_op", "request_queue_busy_iter", "rq_data_dir",
    ),
    "linux.boot": (
        "kaslr_offset", "pgtable_l5_enabled",
    ),
    "linux.bpf": (
        "bpf_btf_for_each", "bpf_link_for_each", "bpf_map_for_each", "bpf_prog_for_each",
        "cgroup_bpf_prog_for_each", "cgroup_bpf_prog_for_each_effective", "bpf_prog_used_maps",
        "bpf_prog_by_id", "bpf_map_by_id",
    ),
    "linux.cgroup": (
        "cgroup_get_from_path", "cgroup_name", "cgroup_parent", "cgroup_path", "css_for_each_child",
        "css_for_each_descendant_pre", "css_next_child", "css_next_descendant_pre", "sock_cgroup_ptr",
    ),
    "linux.common": (),
    "common.format": (
        "CellFormat", "RowOptions", "decode_enum_type_flags", "decode_flags", "double_quote_ascii_string",
        "escape_ascii_character", "escape_ascii_string", "number_in_binary_units", "print_table",
    ),
    "common.memory": (
        "identify_address", "identify_address_all", "print_annotated_memory",
    ),
    "common.prog": (
        "takes_object_or_program_or_default", "takes_program_or_default",
    ),
    "common.stack": (
        "print_annotated_stack", "print_registers",
    ),
    "common.type": (
        "enum_type_to_class", "member_at_offset", "typeof_member",
    ),
    "linux.completion": (
        "completion_done", "completion_for_each_task",
    ),
    "linux.cpumask": (
        "cpu_online_mask", "cpu_possible_mask", "cpu_present_mask", "cpumask_of", "cpumask_to_cpulist",
        "cpumask_weight", "for_each_cpu", "for_each_online_cpu", "for_each_possible_cpu",
        "for_each_present_cpu", "num_online_cpus", "num_possible_cpus", "num_present_cpus",
    ),
    "linux.device": (
        "MAJOR", "MINOR", "MKDEV", "bus_for_each_dev", "bus_to_subsys", "class_for_each_device",
        "class_to_subsys", "dev_name", "for_each_registered_blkdev", "for_each_registered_chrdev",
    ),
    "linux.fs": (
        "address_space_for_each_page", "d_path", "decode_file_type", "dentry_path", "fget", "for_each_file",
        "for_each_mount", "inode_for_each_page", "inode_path", "inode_paths", "mount_dst", "mount_fstype",
        "mount_src", "path_lookup", "print_files", "print_mounts", "super_block_for_each_mount",
    ),
    "linux.hugetlb": (
        "for_each_hstate", "huge_page_size", "hugetlb_total_pages", "hugetlb_total_usage",
    ),
    "linux.idr": (
        "idr_find", "idr_for_each", "idr_for_each_entry",
    ),
    "linux.ioport": (
        "for_each_resource",
    ),
    "linux.ipc": (
        "decode_sysv_shm_flags", "decode_sysv_shm_mode_flags", "find_sysv_msg_queue", "find_sysv_sem_array",
        "find_sysv_shm", "for_each_sysv_msg_queue", "for_each_sysv_sem_array", "for_each_sysv_shm",
    ),
    "linux.irq": (
        "for_each_irq_desc", "gate_desc_func", "irq_desc_action_names", "irq_desc_affinity_mask",
        "irq_desc_chip_name", "irq_desc_kstat_cpu", "irq_get_nr_irqs", "irq_to_desc",
    ),
    "linux.kallsyms": (
        "load_module_kallsyms", "load_vmlinux_kallsyms", "module_kallsyms",
    ),
    "linux.kconfig": (
        "get_kconfig",
    ),
    "linux.kernfs": (
        "kernfs_name", "kernfs_parent", "kernfs_path", "kernfs_root", "kernfs_walk", "kernfs_children",
    ),
    "linux.kthread": (
        "kthread_data", "task_is_kthread", "to_kthread",
    ),
    "linux.list": (
        "hlist_empty", "hlist_for_each", "hlist_for_each_entry", "list_count_nodes", "list_empty",
        "list_first_entry", "list_first_entry_or_null", "list_for_each", "list_for_each_entry",
        "list_for_each_entry_reverse", "list_for_each_reverse", "list_is_singular", "list_last_entry",
        "list_next_entry", "list_prev_entry", "validate_list", "validate_list_count_nodes",
        "validate_list_for_each", "validate_list_for_each_entry",
    ),
    "linux.list_nulls": (
        "hlist_nulls_empty", "hlist_nulls_for_each_entry", "is_a_nulls",
    ),
    "linux.llist": (
        "llist_empty", "llist_first_entry", "llist_first_entry_or_null", "llist_for_each",
        "llist_for_each_entry", "llist_is_singular", "llist_next_entry",
    ),
    "linux.locking": (
        "mutex_owner", "rwsem_locked", "rwsem_owner",
    ),
    "linux.mapletree": (
        "mt_for_each", "mtree_load",
    ),
    "linux.mm": (
        "PFN_PHYS", "PHYS_PFN", "PageCompound", "PageHead", "PageSlab", "PageTail", "access_process_vm",
        "access_remote_vm", "cmdline", "compound_head", "compound_nr", "compound_order",
        "decode_memory_block_state", "decode_memory_block_state_value", "decode_page_flags",
        "decode_page_flags_value", "environ", "find_vmap_area", "follow_page", "follow_pfn", "follow_phys",
        "for_each_memory_block", "for_each_page", "for_each_valid_page_range",
        "for_each_valid_pfn_and_page", "for_each_vma", "for_each_vmap_area", "in_direct_map",
        "memory_block_size_bytes", "mm_cmdline", "mm_environ", "page_flags", "page_index", "page_size",
        "page_to_pfn", "page_to_phys", "page_to_virt", "pfn_to_page", "pfn_to_virt", "phys_to_page",
        "phys_to_virt", "task_rss", "task_vsize", "totalram_pages", "virt_to_page", "virt_to_pfn",
        "virt_to_phys", "vm_commit_limit", "vm_memory_committed", "vma_find", "vma_name", "vmalloc_to_page",
        "vmalloc_to_pfn", "PageActive", "PageChecked", "PageDirty", "PageDoubleMap", "PageError",
        "PageForeign", "PageHWPoison", "PageHasHWPoisoned", "PageIdle", "PageIsolated", "PageLRU",
        "PageLocked", "PageMappedToDisk", "PageMlocked", "PageOwnerPriv1", "PagePinned", "PagePrivate",
        "PagePrivate2", "PageReadahead", "PageReclaim", "PageReferenced", "PageReported", "PageReserved",
        "PageSavePinned", "PageSkipKASanPoison", "PageSlobFree", "PageSwapBacked", "PageUncached",
        "PageUnevictable", "PageUptodate", "PageVmemmapSelfHosted", "PageWaiters", "PageWorkingset",
        "PageWriteback", "PageXenRemapped", "PageYoung",
    ),
    "linux.mmzone": (
        "NODE_DATA", "decode_section_flags", "early_section", "early_section_nr", "for_each_online_pgdat",
        "for_each_present_section", "high_wmark_pages", "low_wmark_pages", "min_wmark_pages",
        "nr_to_section", "online_section", "online_section_nr", "pfn_to_section", "pfn_to_section_nr",
        "present_section", "present_section_nr", "section_decode_mem_map", "section_mem_map_addr",
        "section_nr_to_pfn", "valid_section", "valid_section_nr", "wmark_pages",
    ),
    "linux.module": (
        "address_to_module", "find_module", "for_each_module", "module_address_regions",
        "module_percpu_region", "module_taints",
    ),
    "linux.net": (
        "SOCK_INODE", "SOCKET_I", "for_each_net", "for_each_netdev", "get_net_ns_by_inode",
        "get_net_ns_by_fd", "netdev_for_each_tx_queue", "netdev_get_by_index", "netdev_get_by_name",
        "netdev_name", "netdev_priv", "sk_fullsock", "sk_nulls_for_each", "skb_shinfo", "is_pp_page",
        "netdev_ipv4_addrs", "netdev_ipv6_addrs", "neigh_table_for_each_neighbor",
    ),
    "linux.nodemask": (
        "for_each_node", "for_each_node_mask", "for_each_node_state", "for_each_online_node", "node_state",
        "nr_node_ids",
    ),
    "linux.panic": (
        "panic_message", "panic_task", "tainted",
    ),
    "linux.pci": (
        "for_each_pci_dev", "for_each_pci_root_bus", "pci_bus_for_each_child", "pci_bus_for_each_dev",
        "pci_bus_name", "pci_is_bridge", "pci_name", "pci_pcie_type",
    ),
    "linux.percpu": (
        "per_cpu", "per_cpu_ptr", "percpu_counter_sum", "percpu_counter_sum_positive",
    ),
    "linux.pid": (
        "find_pid", "find_task", "for_each_pid", "for_each_task", "for_each_task_in_group", "pid_task",
    ),
    "linux.plist": (
        "plist_first_entry", "plist_for_each", "plist_for_each_entry", "plist_head_empty",
        "plist_last_entry", "plist_node_empty",
    ),
    "linux.printk": (
        "get_dmesg", "get_printk_records", "print_dmesg",
    ),
    "linux.radixtree": (
        "radix_tree_for_each", "radix_tree_lookup",
    ),
    "linux.rbtree": (
        "RB_EMPTY_ROOT", "RB_EMPTY_NODE", "rb_find", "rb_first", "rb_last", "rb_next", "rb_parent",
        "rb_prev", "rbtree_inorder_for_each", "rbtree_inorder_for_each_entry", "rbtree_preorder_for_each",
        "rbtree_preorder_for_each_entry", "validate_rbtree", "validate_rbtree_inorder_for_each_entry",
    ),
    "linux.resource": (
        "task_rlimits",
    ),
    "linux.sbitmap": (
        "sbitmap_for_each_set",
    ),
    "linux.sched": (
        "cfs_rq_for_each_entity", "cpu_curr", "cpu_rq", "get_task_state", "idle_task", "loadavg",
        "rq_for_each_fair_task", "rq_for_each_rt_task", "sched_entity_is_task", "sched_entity_to_task",
        "task_cpu", "task_group_name", "task_group_sched_entity", "task_on_cpu", "task_rq",
        "task_since_last_arrival_ns", "task_state_to_char", "task_thread_info", "thread_group_leader",
    ),
    "linux.signal": (
        "decode_sigaction_flags", "decode_sigaction_flags_value", "decode_sigset", "sigaction_flags",
        "signal_names", "signal_numbers", "sigpending_for_each", "sigset_to_hex",
    ),
    "linux.slab": (
        "find_containing_slab_cache", "find_slab_cache", "for_each_slab_cache", "get_slab_cache_aliases",
        "print_slab_caches", "slab_cache_for_each_allocated_object", "slab_cache_is_merged",
        "slab_cache_objects_per_slab", "slab_cache_order", "slab_cache_pages_per_slab", "slab_cache_usage",
        "slab_object_info", "slab_total_usage",
    ),
    "linux.stack": (
        "StackKind", "StackSegment", "LinuxKernelStack", "kernel_stack_trace",
    ),
    "linux.stackdepot": (
        "stack_depot_fetch",
    ),
    "linux.swait": (
        "swait_active", "swait_for_each_task",
    ),
    "linux.swap": (
        "for_each_swap_info", "swap_file_path", "swap_is_file", "swap_total_usage", "swap_usage_in_pages",
        "total_swapcache_pages",
    ),
    "linux.sysfs": (
        "sysfs_lookup_node", "sysfs_lookup_kobject", "sysfs_lookup", "sysfs_listdir", "kobject_path",
    ),
    "linux.tc": (
        "qdisc_lookup",
    ),
    "linux.tcp": (
        "sk_tcpstate",
    ),
    "linux.timekeeping": (
        "ktime_get_boottime_seconds", "ktime_get_clocktai_seconds", "ktime_get_coarse_boottime_ns",
        "ktime_get_coarse_clocktai_ns", "ktime_get_coarse_ns", "ktime_get_coarse_real_ns",
        "ktime_get_real_seconds", "ktime_get_seconds", "ktime_to_ns", "uptime", "uptime_pretty",
    ),
    "linux.timer": (
        "hrtimer_clock_base_for_each", "timer_base_for_each", "timer_base_names",
    ),
    "linux.user": (
        "find_user", "for_each_user", "kuid_val",
    ),
    "linux.vmstat": (
        "global_node_page_state", "global_numa_event_state", "global_vm_event_state",
        "global_zone_page_state", "nr_free_pages", "zone_page_state",
    ),
    "linux.wait": (
        "waitqueue_active", "waitqueue_for_each_entry", "waitqueue_for_each_task",
    ),
    "linux.xarray": (
        "xa_for_each", "xa_is_value", "xa_is_zero", "xa_load", "xa_to_value",
    ),
}
