// SPDX-License-Identifier: GPL-2.0
/*
 * kdbg_lockup: a tiny module whose only job is to hang a task on request, in the two ways
 * the kernel's own watchdogs catch, so that a vmcore holds a hung task and a soft lockup
 * whose stacks run through module code (kdbg's crash-kind and signature tests).
 *
 * Loading it creates two files:
 *   /proc/kdbg_hang  write(2) -> vfs_write -> proc_reg_write -> kdbg_hang_write
 *                    -> kdbg_hang_level1 -> kdbg_hang_wait: sleeps in TASK_UNINTERRUPTIBLE
 *                    for ever (the hung-task detector reports it; hung_task_panic=1 panics)
 *   /proc/kdbg_spin  write(2) -> ... -> kdbg_spin_write -> kdbg_spin_level1 -> kdbg_spin_loop:
 *                    spins in kernel mode with preemption off for ever (the soft-lockup
 *                    detector reports it from its timer interrupt; softlockup_panic=1 panics)
 * Every step is noinline and does work after its call, so no call is a tail call and each
 * function keeps its own frame.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/uaccess.h>

/* never cleared: the loops below cannot be proved endless, so the compiler keeps them */
static int kdbg_lockup_forever = 1;
static struct proc_dir_entry *kdbg_hang_entry;
static struct proc_dir_entry *kdbg_spin_entry;

static noinline int kdbg_hang_wait(int value)
{
	while (READ_ONCE(kdbg_lockup_forever)) {
		set_current_state(TASK_UNINTERRUPTIBLE);
		schedule();
	}
	__set_current_state(TASK_RUNNING);
	return value + 1;
}

static noinline int kdbg_hang_level1(int value)
{
	int ret = kdbg_hang_wait(value + 1);

	pr_info("kdbg_lockup: woke up (%d)\n", ret);
	return ret;
}

static ssize_t kdbg_hang_write(struct file *file, const char __user *buf, size_t count, loff_t *ppos)
{
	pr_emerg("kdbg_lockup: %s:%d sleeps uninterruptibly for ever\n", current->comm, task_pid_nr(current));
	if (kdbg_hang_level1((int)count) < 0)
		return -EINVAL;
	return count;
}

static noinline int kdbg_spin_loop(int value)
{
	preempt_disable();
	while (READ_ONCE(kdbg_lockup_forever))
		cpu_relax();
	preempt_enable();
	return value + 1;
}

static noinline int kdbg_spin_level1(int value)
{
	int ret = kdbg_spin_loop(value + 1);

	pr_info("kdbg_lockup: stopped spinning (%d)\n", ret);
	return ret;
}

static ssize_t kdbg_spin_write(struct file *file, const char __user *buf, size_t count, loff_t *ppos)
{
	pr_emerg("kdbg_lockup: %s:%d spins with preemption off for ever\n", current->comm, task_pid_nr(current));
	if (kdbg_spin_level1((int)count) < 0)
		return -EINVAL;
	return count;
}

static const struct proc_ops kdbg_hang_ops = {
	.proc_write = kdbg_hang_write,
};

static const struct proc_ops kdbg_spin_ops = {
	.proc_write = kdbg_spin_write,
};

static int __init kdbg_lockup_init(void)
{
	kdbg_hang_entry = proc_create("kdbg_hang", 0200, NULL, &kdbg_hang_ops);
	if (!kdbg_hang_entry)
		return -ENOMEM;
	kdbg_spin_entry = proc_create("kdbg_spin", 0200, NULL, &kdbg_spin_ops);
	if (!kdbg_spin_entry) {
		proc_remove(kdbg_hang_entry);
		return -ENOMEM;
	}
	pr_info("kdbg_lockup: loaded; write to /proc/kdbg_hang or /proc/kdbg_spin to hang\n");
	return 0;
}

static void __exit kdbg_lockup_exit(void)
{
	proc_remove(kdbg_spin_entry);
	proc_remove(kdbg_hang_entry);
}

module_init(kdbg_lockup_init);
module_exit(kdbg_lockup_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Hang or spin on request through /proc/kdbg_hang and /proc/kdbg_spin (kdbg test vmcores)");
