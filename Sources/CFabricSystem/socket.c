#define _GNU_SOURCE
#include "CFabricSystem.h"
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

int fab_resolve(const char *host, int port, int passive, struct sockaddr_storage *out, socklen_t *out_len) {
    struct addrinfo hints, *res = NULL;
    char service[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    snprintf(service, sizeof(service), "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) return rc;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *out_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

const char *fab_gai_strerror(int code) { return gai_strerror(code); }

void fab_format_sockaddr(const struct sockaddr *addr, char *buf, size_t len) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, len, "<family %d>", addr->sa_family);
    }
}

int fab_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return errno;
    return 0;
}

int fab_interface_address(const char *ifname, int family, char *buf, size_t len) {
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) != 0) return errno;
    int rc = -1;
    for (struct ifaddrs *it = list; it; it = it->ifa_next) {
        if (!it->ifa_addr || strcmp(it->ifa_name, ifname) != 0) continue;
        if (it->ifa_addr->sa_family != family) continue;
        const void *src = family == AF_INET
            ? (const void *)&((struct sockaddr_in *)it->ifa_addr)->sin_addr
            : (const void *)&((struct sockaddr_in6 *)it->ifa_addr)->sin6_addr;
        if (inet_ntop(family, src, buf, (socklen_t)len)) { rc = 0; break; }
    }
    freeifaddrs(list);
    return rc;
}

int fab_accept(int fd, struct sockaddr *addr, socklen_t *len, int nonblocking) {
    return accept4(fd, addr, len, SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0));
}

int fab_send_flags(int dontwait) { return MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0); }
