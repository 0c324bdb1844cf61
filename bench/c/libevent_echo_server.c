/*
 * libevent_echo_server: libevent's own C echo server, the reference row of
 * levent's echo benchmark.
 *
 *   libevent_echo_server [PORT]     (PORT 0 or absent: an ephemeral port)
 *
 * The echo server of the libevent book ("Connection listeners: accepting TCP
 * connections", the example with evconnlistener and bufferevents): the read
 * callback moves the whole input buffer to the output buffer with
 * evbuffer_add_buffer(). Listens on 127.0.0.1 only, prints
 * "Listening on 127.0.0.1:PORT" as its first line, and exits 0 on SIGINT or
 * SIGTERM after freeing everything.
 *
 * Built by bench/bench_echo.py: cc -O2 libevent_echo_server.c -levent
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

static void echo_read_cb(struct bufferevent *bev, void *ctx) {
    (void)ctx;
    struct evbuffer *input = bufferevent_get_input(bev);
    struct evbuffer *output = bufferevent_get_output(bev);
    evbuffer_add_buffer(output, input);
}

static void echo_event_cb(struct bufferevent *bev, short events, void *ctx) {
    (void)ctx;
    if (events & BEV_EVENT_ERROR)
        perror("Error from bufferevent");
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void accept_conn_cb(struct evconnlistener *listener, evutil_socket_t fd,
                           struct sockaddr *address, int socklen, void *ctx) {
    (void)address;
    (void)socklen;
    (void)ctx;
    struct event_base *base = evconnlistener_get_base(listener);
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, echo_read_cb, NULL, echo_event_cb, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void accept_error_cb(struct evconnlistener *listener, void *ctx) {
    (void)ctx;
    int err = EVUTIL_SOCKET_ERROR();
    fprintf(stderr, "Got an error %d (%s) on the listener.\n", err,
            evutil_socket_error_to_string(err));
    (void)listener; /* keep serving: EMFILE and friends are transient here */
}

static void signal_cb(evutil_socket_t sig, short events, void *arg) {
    (void)sig;
    (void)events;
    event_base_loopexit((struct event_base *)arg, NULL);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    if (port < 0 || port > 65535) {
        fprintf(stderr, "Invalid port\n");
        return 2;
    }
    struct event_base *base = event_base_new();
    if (base == NULL) {
        fprintf(stderr, "Couldn't open event base\n");
        return 1;
    }

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((unsigned short)port);

    struct evconnlistener *listener =
        evconnlistener_new_bind(base, accept_conn_cb, NULL,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
                                (struct sockaddr *)&sin, sizeof sin);
    if (listener == NULL) {
        perror("Couldn't create listener");
        return 1;
    }
    evconnlistener_set_error_cb(listener, accept_error_cb);

    struct sockaddr_in bound;
    socklen_t len = sizeof bound;
    if (getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&bound, &len) < 0) {
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
    evconnlistener_free(listener);
    event_base_free(base);
    return 0;
}
