/* kdbg-bpf: BPF maps and programs for vmcores/state.py's guest, without clang or libbpf.
 *
 * Creates with the bpf(2) syscall a hash map (BPF_F_NO_PREALLOC, two elements) and an
 * array map, and loads three hand-written programs: a socket filter that looks up the
 * hash map, a tracepoint program (not GPL-compatible) that looks up the array map, and a
 * socket filter that uses no map.  It keeps every fd open and sleeps in pause() until
 * the guest is dumped.  Into the directory argv[1] it writes ``fds`` (``KIND NAME FD``
 * per object, for the guest's /proc/PID/fdinfo/FD), and per program what the kernel
 * itself hands back for it (BPF_OBJ_GET_INFO_BY_FD): ``NAME.xlated`` (the translated
 * instructions), ``NAME.jited`` (the JITed code), ``NAME.ksym`` (the JITed image's
 * address) and ``NAME.loaded`` (CLOCK_REALTIME and CLOCK_BOOTTIME right after the load,
 * ``SECONDS.NANOSECONDS`` each); then ``pid`` last.  Built with gcc -static at build time; the tests read
 * the values back from those files, not from this source.
 */
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LD_MAP_FD(d, fd) INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)
#define EXIT INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static const char *outdir;
static FILE *fds;

static void die(const char *what) { perror(what); exit(1); }

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int map(const char *name, uint32_t type, uint32_t key, uint32_t value, uint32_t max, uint32_t flags)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = key;
	a.value_size = value;
	a.max_entries = max;
	a.map_flags = flags;
	strncpy(a.map_name, name, sizeof(a.map_name) - 1);
	int fd = sys_bpf(BPF_MAP_CREATE, &a);
	if (fd < 0) die(name);
	fprintf(fds, "map %s %d\n", name, fd);
	return fd;
}

static void update(int fd, uint32_t key, const void *value)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)value;
	if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) < 0) die("map update");
}

static void save(const char *name, const char *ext, const void *data, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s.%s", outdir, name, ext);
	FILE *f = fopen(path, "w");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) die(path);
}

static int load(const char *name, uint32_t type, const struct bpf_insn *insns, size_t n, const char *license)
{
	static char log[65536];
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.insns = (uintptr_t)insns;
	a.insn_cnt = (uint32_t)n;
	a.license = (uintptr_t)license;
	a.log_buf = (uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	strncpy(a.prog_name, name, sizeof(a.prog_name) - 1);
	struct timespec real, boot;
	int fd = sys_bpf(BPF_PROG_LOAD, &a);
	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	if (fd < 0) {
		fprintf(stderr, "%s\n", log);
		die(name);
	}
	fprintf(fds, "prog %s %d\n", name, fd);

	static unsigned char xlated[65536], jited[65536];
	uint64_t ksym = 0;
	struct bpf_prog_info info;
	memset(&info, 0, sizeof(info));
	info.xlated_prog_len = sizeof(xlated);
	info.xlated_prog_insns = (uintptr_t)xlated;
	info.jited_prog_len = sizeof(jited);
	info.jited_prog_insns = (uintptr_t)jited;
	info.nr_jited_ksyms = 1;
	info.jited_ksyms = (uintptr_t)&ksym;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = sizeof(info);
	a.info.info = (uintptr_t)&info;
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) < 0) die("prog info");
	save(name, "xlated", xlated, info.xlated_prog_len);
	save(name, "jited", jited, info.jited_prog_len);
	char text[32];
	int len = snprintf(text, sizeof(text), "%llx\n", (unsigned long long)ksym);
	save(name, "ksym", text, (size_t)len);
	char when[64];
	len = snprintf(when, sizeof(when), "%lld.%09ld %lld.%09ld\n", (long long)real.tv_sec, real.tv_nsec,
		       (long long)boot.tv_sec, boot.tv_nsec);
	save(name, "loaded", when, (size_t)len);
	return fd;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: kdbg-bpf DIR\n");
		return 2;
	}
	outdir = argv[1];
	char path[256];
	snprintf(path, sizeof(path), "%s/fds", outdir);
	fds = fopen(path, "w");
	if (!fds) die(path);

	int hash = map("kdbg_hash", BPF_MAP_TYPE_HASH, 4, 8, 64, BPF_F_NO_PREALLOC);
	int array = map("kdbg_array", BPF_MAP_TYPE_ARRAY, 4, 16, 8, 0);
	uint64_t v1 = 0x6b64626700000001ULL, v2 = 0x6b64626700000002ULL;
	update(hash, 1, &v1);
	update(hash, 7, &v2);
	unsigned char row[16] = "kdbg-array-row3";
	update(array, 3, row);

	/* r0 = *(u64 *)bpf_map_lookup_elem(map, &(u32){key}) or 0 */
	const struct bpf_insn lookup_hash[] = {
		INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 7),
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),
		LD_MAP_FD(BPF_REG_1, hash),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
		INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 2, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
		EXIT,
		INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_0, BPF_REG_0, 0, 0),
		EXIT,
	};
	const struct bpf_insn lookup_array[] = {
		INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 3),
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),
		LD_MAP_FD(BPF_REG_1, array),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
		INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 1, 0),
		INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_0, BPF_REG_0, 4, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
		EXIT,
	};
	const struct bpf_insn accept_all[] = {
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0xffff),
		EXIT,
	};
	load("kdbg_sockf", BPF_PROG_TYPE_SOCKET_FILTER, lookup_hash, sizeof(lookup_hash) / sizeof(lookup_hash[0]),
	     "GPL");
	load("kdbg_tp", BPF_PROG_TYPE_TRACEPOINT, lookup_array, sizeof(lookup_array) / sizeof(lookup_array[0]),
	     "Proprietary");
	load("kdbg_accept", BPF_PROG_TYPE_SOCKET_FILTER, accept_all, sizeof(accept_all) / sizeof(accept_all[0]),
	     "Dual BSD/GPL");
	if (fclose(fds)) die("fds");

	snprintf(path, sizeof(path), "%s/pid", outdir);
	FILE *f = fopen(path, "w");
	if (!f) die(path);
	fprintf(f, "%d\n", getpid());
	fclose(f);
	for (;;)
		pause();
}
