/* kdbg-state: the state busybox cannot make, for vmcores/state.py's guest.
 *
 * Creates SysV IPC objects (a shared memory segment, attached; a semaphore set; a
 * message queue with two messages), a listening unix socket, a private file mapping,
 * signal dispositions (SIGUSR2 caught, SIGHUP ignored), blocked signals and pending
 * ones (SIGUSR1 private, SIGTERM shared, two queued SIGRTMIN+2), then writes its pid
 * to the file named by argv[1] and sleeps in pause() until the guest is dumped.
 * Built with gcc -static at build time; keys and values are read back by the tests
 * from the guest's own /proc files, not from this source.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

union semun { int val; struct semid_ds *buf; unsigned short *array; };
struct kmsg { long mtype; char mtext[32]; };

static void on_usr2(int sig) { (void)sig; }

static void die(const char *what) { perror(what); exit(1); }

int main(int argc, char **argv)
{
	int shm = shmget(0x6b640001, 8192, IPC_CREAT | 0640);
	if (shm < 0) die("shmget");
	char *p = shmat(shm, NULL, 0);
	if (p == (void *)-1) die("shmat");
	strcpy(p, "kdbg shared memory");

	int sem = semget(0x6b640002, 3, IPC_CREAT | 0600);
	if (sem < 0) die("semget");
	unsigned short vals[3] = {5, 0, 7};
	union semun arg = {.array = vals};
	if (semctl(sem, 0, SETALL, arg) < 0) die("semctl");

	int msq = msgget(0x6b640003, IPC_CREAT | 0660);
	if (msq < 0) die("msgget");
	struct kmsg m1 = {1, "hello"}, m2 = {2, "kdbg-message"};
	if (msgsnd(msq, &m1, 6, 0) < 0 || msgsnd(msq, &m2, 13, 0) < 0) die("msgsnd");

	int us = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, "/tmp/kdbg-state.sock");
	if (us < 0 || bind(us, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(us, 4) < 0) die("unix socket");

	int fd = open("/bin/busybox", O_RDONLY);
	if (fd < 0 || mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED) die("mmap");

	struct sigaction act = {.sa_handler = on_usr2, .sa_flags = SA_RESTART};
	sigaction(SIGUSR2, &act, NULL);
	signal(SIGHUP, SIG_IGN);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &block, NULL);
	raise(SIGUSR1);                 /* tgkill: this thread's pending set */
	kill(getpid(), SIGTERM);        /* the process's shared pending set */
	union sigval v = {.sival_int = 0x6b64};
	sigqueue(getpid(), SIGRTMIN + 2, v);
	sigqueue(getpid(), SIGRTMIN + 2, v);

	if (argc > 1) {
		FILE *f = fopen(argv[1], "w");
		if (!f) die(argv[1]);
		fprintf(f, "%d\n", getpid());
		fclose(f);
	}
	for (;;)
		pause();
}
