/*
 * echo_client: a ping-pong load generator for levent's echo benchmark.
 *
 *   echo_client HOST PORT CONNECTIONS MESSAGE_SIZE SECONDS WARMUP [SERVER_PID]
 *
 * Opens CONNECTIONS TCP connections (TCP_NODELAY, non-blocking, one epoll set,
 * no libevent). Each connection sends one MESSAGE_SIZE-byte message, waits for
 * the whole echo, checks it byte for byte, then sends the next one. Messages
 * completed during the first WARMUP seconds are not counted; the next SECONDS
 * are the timed window. At the two edges of that window the client samples its
 * own getrusage() and, when SERVER_PID is given, the server's utime/stime from
 * /proc/SERVER_PID/stat, so the server's CPU is measured for exactly the window.
 *
 * Prints one line of key=value pairs on stdout:
 *   messages=N seconds=S client_user=U client_sys=Y server_user=U server_sys=Y machine_busy=B
 * (CPU figures in seconds; server_* are -1 without SERVER_PID; machine_busy is the
 * busy time of all CPUs together from /proc/stat, so that what other processes
 * took during the window can be shown) and exits 0.
 * Any error (refused, reset, EOF, wrong echo) goes to stderr and exits 1.
 *
 * Built by bench/bench_echo.py with `cc -O2`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

struct conn {
    int fd;
    size_t sent;   /* bytes of the current message written */
    size_t recvd;  /* bytes of its echo read back */
    int want_out;  /* EPOLLOUT armed */
};

static unsigned char *message;
static unsigned char *scratch;
static size_t msg_size;
static int epfd;
static unsigned long long completed;
static int draining; /* the window is over: finish the echoes in flight, send no more */
static int in_flight; /* connections with a message not yet fully echoed */

static void die(const char *what) {
    perror(what);
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_seconds(struct timeval tv) {
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* utime and stime of a process, in seconds; -1 if it cannot be read. */
static int read_proc_cpu(long pid, double *user, double *sys) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL)
        return -1;
    p += 2; /* field 3, the state */
    unsigned long long ut = 0, st = 0;
    /* fields 3..13 skipped, then 14 utime and 15 stime */
    if (sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    double tck = (double)sysconf(_SC_CLK_TCK);
    *user = (double)ut / tck;
    *sys = (double)st / tck;
    return 0;
}

/* CPU seconds the whole machine spent busy (every CPU, every process), from /proc/stat. */
static double read_machine_busy(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 7)
        return -1;
    /* user nice system [idle iowait] irq softirq steal; guest time is inside user */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static void set_events(struct conn *c, int want_out) {
    if (c->want_out == want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
    c->want_out = want_out;
}

/* Write what is left of the current message; arm EPOLLOUT if the kernel refuses some. */
static void do_send(struct conn *c) {
    while (c->sent < msg_size) {
        ssize_t n = send(c->fd, message + c->sent, msg_size - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_events(c, 1);
                return;
            }
            die("send");
        }
        c->sent += (size_t)n;
    }
    set_events(c, 0);
}

static void do_recv(struct conn *c) {
    for (;;) {
        size_t room = msg_size - c->recvd;
        ssize_t n = recv(c->fd, scratch, room, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            die("recv");
        }
        if (n == 0) {
            fprintf(stderr, "echo_client: server closed a connection\n");
            exit(1);
        }
        if (c->recvd + (size_t)n > c->sent) {
            fprintf(stderr, "echo_client: received bytes that were never sent\n");
            exit(1);
        }
        if (memcmp(scratch, message + c->recvd, (size_t)n) != 0) {
            fprintf(stderr, "echo_client: echo differs from what was sent\n");
            exit(1);
        }
        c->recvd += (size_t)n;
        if (c->recvd == msg_size) {
            completed++;
            c->recvd = 0;
            c->sent = 0;
            if (draining) {
                in_flight--;
                return;
            }
            do_send(c);
            return; /* the echo cannot be there yet */
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 7 && argc != 8) {
        fprintf(stderr,
                "usage: %s HOST PORT CONNECTIONS MESSAGE_SIZE SECONDS WARMUP [SERVER_PID]\n",
                argv[0]);
        return 2;
    }
    const char *host = argv[1];
    const char *port = argv[2];
    int nconn = atoi(argv[3]);
    msg_size = (size_t)strtoul(argv[4], NULL, 10);
    double seconds = atof(argv[5]);
    double warmup = atof(argv[6]);
    long server_pid = argc == 8 ? atol(argv[7]) : 0;
    if (nconn <= 0 || msg_size == 0 || seconds <= 0 || warmup < 0) {
        fprintf(stderr, "echo_client: bad arguments\n");
        return 2;
    }

    message = malloc(msg_size);
    scratch = malloc(msg_size);
    struct conn *conns = calloc((size_t)nconn, sizeof *conns);
    struct epoll_event *events = calloc((size_t)nconn, sizeof *events);
    if (!message || !scratch || !conns || !events)
        die("malloc");
    for (size_t i = 0; i < msg_size; i++)
        message[i] = (unsigned char)(i * 7 + 1);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "echo_client: %s:%s: %s\n", host, port, gai_strerror(gai));
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    for (int i = 0; i < nconn; i++) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            die("socket");
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
            die("connect");
        int one = 1;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
            die("setsockopt(TCP_NODELAY)");
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
            die("fcntl");
        conns[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            die("epoll_ctl");
    }
    freeaddrinfo(ai);

    for (int i = 0; i < nconn; i++)
        do_send(&conns[i]);

    double start = now();
    double window_start = start + warmup, window_end = window_start + seconds;
    int timing = 0;
    unsigned long long count0 = 0;
    double t0 = 0, t1 = 0;
    struct rusage ru0, ru1;
    double su0 = -1, ss0 = -1, su1 = -1, ss1 = -1, mb0 = -1, mb1 = -1;

    if (warmup == 0) {
        mb0 = read_machine_busy();
        getrusage(RUSAGE_SELF, &ru0);
        if (server_pid > 0 && read_proc_cpu(server_pid, &su0, &ss0) < 0)
            die("read /proc/SERVER_PID/stat");
        t0 = now();
        timing = 1;
    }
    for (;;) {
        int n = epoll_wait(epfd, events, nconn, 10);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                do_recv(c);
            if (c->want_out && (events[i].events & EPOLLOUT))
                do_send(c);
        }
        double t = now();
        if (!timing && t >= window_start) {
            /* machine, server, ourselves, then the clock: symmetric with the end */
            mb0 = read_machine_busy();
            if (server_pid > 0 && read_proc_cpu(server_pid, &su0, &ss0) < 0)
                die("read /proc/SERVER_PID/stat");
            getrusage(RUSAGE_SELF, &ru0);
            count0 = completed;
            t0 = now();
            timing = 1;
        } else if (timing && t >= window_end) {
            t1 = now();
            unsigned long long count1 = completed;
            getrusage(RUSAGE_SELF, &ru1);
            if (server_pid > 0 && read_proc_cpu(server_pid, &su1, &ss1) < 0)
                die("read /proc/SERVER_PID/stat");
            mb1 = read_machine_busy();
            printf("messages=%llu seconds=%.6f client_user=%.6f client_sys=%.6f "
                   "server_user=%.6f server_sys=%.6f machine_busy=%.6f\n",
                   count1 - count0, t1 - t0, tv_seconds(ru1.ru_utime) - tv_seconds(ru0.ru_utime),
                   tv_seconds(ru1.ru_stime) - tv_seconds(ru0.ru_stime),
                   server_pid > 0 ? su1 - su0 : -1.0, server_pid > 0 ? ss1 - ss0 : -1.0,
                   mb0 >= 0 && mb1 >= 0 ? mb1 - mb0 : -1.0);
            fflush(stdout);
            break;
        }
    }
    /* Closing with echoes still unread would reset those connections; let them land. */
    draining = 1;
    in_flight = nconn;
    double drain_end = now() + 5.0;
    while (in_flight > 0 && now() < drain_end) {
        int n = epoll_wait(epfd, events, nconn, 10);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                do_recv(c);
            if (c->want_out && (events[i].events & EPOLLOUT))
                do_send(c);
        }
    }
    for (int i = 0; i < nconn; i++)
        close(conns[i].fd);
    close(epfd);
    free(conns);
    free(events);
    free(message);
    free(scratch);
    return 0;
}
