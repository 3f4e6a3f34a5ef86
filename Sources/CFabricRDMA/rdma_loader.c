#define _GNU_SOURCE
#include "CFabricRDMA.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

// The RDMA libraries are optional at run time: one binary serves hosts with and without
// rdma-core. Everything is resolved once, then copied out to callers.
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static fab_rdma_api loaded;
static int loaded_mask;
static char loaded_why[1024];

static void append_why(const char *fmt, const char *a, const char *b) {
    size_t used = strlen(loaded_why);
    if (used > 0 && used < sizeof(loaded_why) - 2) { loaded_why[used++] = ';'; loaded_why[used++] = ' '; loaded_why[used] = 0; }
    snprintf(loaded_why + used, sizeof(loaded_why) - used, fmt, a, b);
}

static void *open_first(const char *const *names, const char *package) {
    const char *err = "not found";
    for (int i = 0; names[i]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
        if (h) return h;
        err = dlerror();
    }
    append_why("%s (install Debian's %s)", err ? err : names[0], package);
    return NULL;
}

#define BIND(handle, member, symbol)                                          \
    do {                                                                      \
        *(void **)(&loaded.member) = dlsym(handle, symbol);                   \
        if (!loaded.member) { append_why("%s lacks symbol %s", #handle, symbol); ok = 0; } \
    } while (0)

static void load_all(void) {
    static const char *const verbs_names[] = {"libibverbs.so.1", "libibverbs.so", NULL};
    static const char *const cm_names[] = {"librdmacm.so.1", "librdmacm.so", NULL};
    static const char *const numa_names[] = {"libnuma.so.1", "libnuma.so", NULL};
    int ok;

    void *libibverbs = open_first(verbs_names, "libibverbs1 and ibverbs-providers");
    if (libibverbs) {
        ok = 1;
        BIND(libibverbs, get_device_list, "ibv_get_device_list");
        BIND(libibverbs, free_device_list, "ibv_free_device_list");
        BIND(libibverbs, get_device_name, "ibv_get_device_name");
        BIND(libibverbs, open_device, "ibv_open_device");
        BIND(libibverbs, close_device, "ibv_close_device");
        BIND(libibverbs, query_device, "ibv_query_device");
        BIND(libibverbs, query_port, "ibv_query_port");
        BIND(libibverbs, query_gid, "ibv_query_gid");
        BIND(libibverbs, query_gid_ex, "_ibv_query_gid_ex");
        BIND(libibverbs, alloc_pd, "ibv_alloc_pd");
        BIND(libibverbs, dealloc_pd, "ibv_dealloc_pd");
        BIND(libibverbs, reg_mr, "ibv_reg_mr");
        BIND(libibverbs, dereg_mr, "ibv_dereg_mr");
        BIND(libibverbs, create_comp_channel, "ibv_create_comp_channel");
        BIND(libibverbs, destroy_comp_channel, "ibv_destroy_comp_channel");
        BIND(libibverbs, create_cq, "ibv_create_cq");
        BIND(libibverbs, destroy_cq, "ibv_destroy_cq");
        BIND(libibverbs, get_cq_event, "ibv_get_cq_event");
        BIND(libibverbs, ack_cq_events, "ibv_ack_cq_events");
        BIND(libibverbs, create_qp, "ibv_create_qp");
        BIND(libibverbs, modify_qp, "ibv_modify_qp");
        BIND(libibverbs, destroy_qp, "ibv_destroy_qp");
        BIND(libibverbs, wc_status_str, "ibv_wc_status_str");
        if (ok) loaded_mask |= FAB_RDMA_HAVE_VERBS;
    }
    void *librdmacm = open_first(cm_names, "librdmacm1");
    if (librdmacm) {
        ok = 1;
        BIND(librdmacm, create_event_channel, "rdma_create_event_channel");
        BIND(librdmacm, destroy_event_channel, "rdma_destroy_event_channel");
        BIND(librdmacm, create_id, "rdma_create_id");
        BIND(librdmacm, destroy_id, "rdma_destroy_id");
        BIND(librdmacm, bind_addr, "rdma_bind_addr");
        BIND(librdmacm, resolve_addr, "rdma_resolve_addr");
        BIND(librdmacm, resolve_route, "rdma_resolve_route");
        BIND(librdmacm, cm_create_qp, "rdma_create_qp");
        BIND(librdmacm, cm_destroy_qp, "rdma_destroy_qp");
        BIND(librdmacm, connect, "rdma_connect");
        BIND(librdmacm, listen, "rdma_listen");
        BIND(librdmacm, accept, "rdma_accept");
        BIND(librdmacm, reject, "rdma_reject");
        BIND(librdmacm, disconnect, "rdma_disconnect");
        BIND(librdmacm, get_cm_event, "rdma_get_cm_event");
        BIND(librdmacm, ack_cm_event, "rdma_ack_cm_event");
        BIND(librdmacm, event_str, "rdma_event_str");
        BIND(librdmacm, set_option, "rdma_set_option");
        BIND(librdmacm, get_devices, "rdma_get_devices");
        BIND(librdmacm, free_devices, "rdma_free_devices");
        if (ok) loaded_mask |= FAB_RDMA_HAVE_RDMACM;
    }
    void *libnuma = open_first(numa_names, "libnuma1");
    if (libnuma) {
        ok = 1;
        BIND(libnuma, numa_available, "numa_available");
        BIND(libnuma, numa_max_node, "numa_max_node");
        BIND(libnuma, numa_node_of_cpu, "numa_node_of_cpu");
        BIND(libnuma, numa_run_on_node, "numa_run_on_node");
        BIND(libnuma, numa_alloc_onnode, "numa_alloc_onnode");
        BIND(libnuma, numa_free, "numa_free");
        BIND(libnuma, numa_set_preferred, "numa_set_preferred");
        if (ok) loaded_mask |= FAB_RDMA_HAVE_NUMA;
    }
}

int fab_rdma_load(fab_rdma_api *api, char *why, size_t why_len) {
    pthread_once(&load_once, load_all);
    if (api) *api = loaded;
    if (why && why_len) snprintf(why, why_len, "%s", loaded_why);
    return loaded_mask;
}

const char *fab_rdma_library_path(int which) {
    pthread_once(&load_once, load_all);
    void *symbol = which == FAB_RDMA_HAVE_VERBS ? (void *)loaded.get_device_list
                 : which == FAB_RDMA_HAVE_RDMACM ? (void *)loaded.create_id
                 : which == FAB_RDMA_HAVE_NUMA ? (void *)loaded.numa_available : NULL;
    Dl_info info;
    if (!symbol || !dladdr(symbol, &info) || !info.dli_fname) return NULL;
    static __thread char resolved[4096];
    return realpath(info.dli_fname, resolved) ? resolved : info.dli_fname;
}


int fab_ibv_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr) {
    return ibv_post_send(qp, wr, bad_wr);
}

int fab_ibv_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr) {
    return ibv_post_recv(qp, wr, bad_wr);
}

int fab_ibv_poll_cq(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc) {
    return ibv_poll_cq(cq, num_entries, wc);
}

int fab_ibv_req_notify_cq(struct ibv_cq *cq, int solicited_only) {
    return ibv_req_notify_cq(cq, solicited_only);
}
