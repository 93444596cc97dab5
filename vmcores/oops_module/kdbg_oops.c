// SPDX-License-Identifier: GPL-2.0
/*
 * kdbg_oops: a tiny module whose only job is to oops on request, so that a vmcore holds a
 * crashed task whose stack runs through module code (kdbg's stack-trace tests).
 *
 * Loading it creates /proc/kdbg_oops.  Writing to that file goes
 *   write(2) -> vfs_write -> proc_reg_write -> kdbg_oops_write -> kdbg_oops_level1
 *            -> kdbg_oops_level2 -> kdbg_oops_crash -> NULL pointer write (page fault)
 * Every step is noinline and does work after its call, so no call is a tail call and each
 * function keeps its own frame (ORC has to unwind through all of them).
 *
 * It also has a per-CPU variable, kdbg_oops_pcpu, whose fields differ per CPU (set at load
 * for every possible CPU); the load prints, for each CPU, that CPU's copy's address (%px:
 * the real one) and its fields, so the console is the ground truth for reading a module's
 * per-CPU variable from the dump:
 *   kdbg_oops: pcpu cpu<N> <address> cpu=<N> magic=<N*1000+7> tag=<0x6b64626700000000+N>
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/uaccess.h>

/* volatile: the compiler cannot prove it NULL, so it emits a real store (a page fault),
 * not a trap instruction. */
static int *volatile kdbg_oops_target;
static struct proc_dir_entry *kdbg_oops_entry;

struct kdbg_oops_pcpu {
	int cpu;
	unsigned long magic;
	u64 tag;
};

static DEFINE_PER_CPU(struct kdbg_oops_pcpu, kdbg_oops_pcpu);

static noinline int kdbg_oops_crash(int value)
{
	pr_emerg("kdbg_oops: writing %d through a NULL pointer\n", value);
	*kdbg_oops_target = value;
	return value + 1;
}

static noinline int kdbg_oops_level2(int value)
{
	int ret = kdbg_oops_crash(value * 2);

	pr_info("kdbg_oops: level2 survived (%d)\n", ret);
	return ret;
}

static noinline int kdbg_oops_level1(int value)
{
	int ret = kdbg_oops_level2(value + 1);

	pr_info("kdbg_oops: level1 survived (%d)\n", ret);
	return ret;
}

static ssize_t kdbg_oops_write(struct file *file, const char __user *buf, size_t count, loff_t *ppos)
{
	char c = 0;

	if (count && get_user(c, buf))
		return -EFAULT;
	if (kdbg_oops_level1(c) < 0)
		return -EINVAL;
	return count;
}

static const struct proc_ops kdbg_oops_ops = {
	.proc_write = kdbg_oops_write,
};

static void kdbg_oops_pcpu_init(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct kdbg_oops_pcpu *p = per_cpu_ptr(&kdbg_oops_pcpu, cpu);

		p->cpu = cpu;
		p->magic = cpu * 1000UL + 7;
		p->tag = 0x6b64626700000000ULL + cpu;
		pr_info("kdbg_oops: pcpu cpu%d %px cpu=%d magic=%lu tag=%#llx\n", cpu, p, p->cpu, p->magic,
			(unsigned long long)p->tag);
	}
}

static int __init kdbg_oops_init(void)
{
	kdbg_oops_pcpu_init();
	kdbg_oops_entry = proc_create("kdbg_oops", 0200, NULL, &kdbg_oops_ops);
	if (!kdbg_oops_entry)
		return -ENOMEM;
	pr_info("kdbg_oops: loaded; write to /proc/kdbg_oops to oops\n");
	return 0;
}

static void __exit kdbg_oops_exit(void)
{
	proc_remove(kdbg_oops_entry);
}

module_init(kdbg_oops_init);
module_exit(kdbg_oops_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Oops on request through /proc/kdbg_oops (kdbg test vmcores)");
