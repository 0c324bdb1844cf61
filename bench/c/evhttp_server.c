/*
 * evhttp_server: libevent's own C HTTP server, the reference row of levent's
 * HTTP benchmark.
 *
 *   evhttp_server PORT DOCROOT     (PORT 0: an ephemeral port)
 *
 * evhttp with two callbacks, as libevent's sample/http-server.c would write them:
 *   GET /         -> 200 "Hello, World!" (Content-Type: text/plain)
 *   GET /big.bin  -> 200, DOCROOT/big.bin, opened per request and queued with
 *                    evbuffer_add_file() (sendfile; the evbuffer closes the fd)
 * Anything else gets evhttp's default 404. evhttp's defaults are kept: allowed
 * methods, keep-alive, Content-Length and Date added by evhttp itself.
 *
 * One deliberate addition: big_cb sets TCP_NODELAY on the connection before it
 * queues the file, as asyncio and uvloop do on every TCP transport. evhttp
 * leaves Nagle on, and then every file response (a small header write, then
 * sendfile) ends with its last partial segment held until the client's delayed
 * ACK: ~40 ms per response, 335 req/s instead of ~2,400 with 10 connections
 * here. The hello replies are one segment each, which Nagle never delays, so
 * they are left alone (no extra syscall per request).
 * Listens on 127.0.0.1 only, prints "Listening on 127.0.0.1:PORT" as its first
 * line, and exits 0 on SIGINT or SIGTERM after freeing everything.
 *
 * Built by bench/bench_http.py: cc -O2 evhttp_server.c -levent
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

static const char HELLO[] = "Hello, World!";
static char big_path[4096];

static void hello_cb(struct evhttp_request *req, void *arg) {
    (void)arg;
    struct evbuffer *body = evbuffer_new();
    if (body == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add(body, HELLO, sizeof HELLO - 1);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    evhttp_send_reply(req, HTTP_OK, "OK", body);
    evbuffer_free(body);
}

static void set_nodelay(struct evhttp_request *req) {
    struct bufferevent *bev =
        evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
    int one = 1;
    if (bev != NULL)
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void big_cb(struct evhttp_request *req, void *arg) {
    (void)arg;
    set_nodelay(req);
    int fd = open(big_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        evhttp_send_error(req, HTTP_NOTFOUND, NULL);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    struct evbuffer *body = evbuffer_new();
    if (body == NULL) {
        close(fd);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    if (evbuffer_add_file(body, fd, 0, st.st_size) < 0) { /* fd stays ours on failure */
        close(fd);
        evbuffer_free(body);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/octet-stream");
    evhttp_send_reply(req, HTTP_OK, "OK", body);
    evbuffer_free(body);
}

static void signal_cb(evutil_socket_t sig, short events, void *arg) {
    (void)sig;
    (void)events;
    event_base_loopexit((struct event_base *)arg, NULL);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT DOCROOT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    if (port < 0 || port > 65535) {
        fprintf(stderr, "Invalid port\n");
        return 2;
    }
    if (snprintf(big_path, sizeof big_path, "%s/big.bin", argv[2]) >= (int)sizeof big_path) {
        fprintf(stderr, "DOCROOT too long\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    struct event_base *base = event_base_new();
    if (base == NULL) {
        fprintf(stderr, "Couldn't create an event_base\n");
        return 1;
    }
    struct evhttp *http = evhttp_new(base);
    if (http == NULL) {
        fprintf(stderr, "Couldn't create evhttp\n");
        return 1;
    }
    evhttp_set_cb(http, "/", hello_cb, NULL);
    evhttp_set_cb(http, "/big.bin", big_cb, NULL);

    struct evhttp_bound_socket *handle =
        evhttp_bind_socket_with_handle(http, "127.0.0.1", (unsigned short)port);
    if (handle == NULL) {
        fprintf(stderr, "Couldn't bind to 127.0.0.1:%d\n", port);
        return 1;
    }
    struct sockaddr_in bound;
    socklen_t len = sizeof bound;
    if (getsockname(evhttp_bound_socket_get_fd(handle), (struct sockaddr *)&bound, &len) < 0) {
        perror("getsockname");
        return 1;
    }

    struct event *sigint = evsignal_new(base, SIGINT, signal_cb, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, signal_cb, base);
    if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) < 0 ||
        event_add(sigterm, NULL) < 0) {
        fprintf(stderr, "Couldn't add signal events\n");
        return 1;
    }

    printf("Listening on 127.0.0.1:%d\n", ntohs(bound.sin_port));
    fflush(stdout);

    event_base_dispatch(base);

    event_free(sigint);
    event_free(sigterm);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
