// CFabricRDMA: the RDMA libraries (libibverbs, librdmacm, libnuma) opened at run time with
// dlopen, so one binary serves hosts with and without rdma-core, plus plain non-inline
// wrappers for the verbs hot calls that the headers define inline. No logic lives here.
#ifndef CFABRIC_RDMA_H
#define CFABRIC_RDMA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- RDMA libraries, opened at run time ----
/// Entry points FabricBench uses, resolved with dlsym. A NULL member means unavailable.
typedef struct fab_rdma_api {
    // libibverbs
    struct ibv_device **(*get_device_list)(int *num_devices);
    void (*free_device_list)(struct ibv_device **list);
    const char *(*get_device_name)(struct ibv_device *device);
    struct ibv_context *(*open_device)(struct ibv_device *device);
    int (*close_device)(struct ibv_context *context);
    int (*query_device)(struct ibv_context *context, struct ibv_device_attr *attr);
    // The exported symbol fills the older (compat) layout, a prefix of struct ibv_port_attr.
    int (*query_port)(struct ibv_context *context, uint8_t port, struct ibv_port_attr *attr);
    int (*query_gid)(struct ibv_context *context, uint8_t port, int index, union ibv_gid *gid);
    int (*query_gid_ex)(struct ibv_context *context, uint32_t port, uint32_t index,
                        struct ibv_gid_entry *entry, uint32_t flags, size_t entry_size);
    struct ibv_pd *(*alloc_pd)(struct ibv_context *context);
    int (*dealloc_pd)(struct ibv_pd *pd);
    struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t length, int access);
    int (*dereg_mr)(struct ibv_mr *mr);
    struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *context);
    int (*destroy_comp_channel)(struct ibv_comp_channel *channel);
    struct ibv_cq *(*create_cq)(struct ibv_context *context, int cqe, void *cq_context,
                                struct ibv_comp_channel *channel, int comp_vector);
    int (*destroy_cq)(struct ibv_cq *cq);
    int (*get_cq_event)(struct ibv_comp_channel *channel, struct ibv_cq **cq, void **cq_context);
    void (*ack_cq_events)(struct ibv_cq *cq, unsigned int nevents);
    struct ibv_qp *(*create_qp)(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
    int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
    int (*destroy_qp)(struct ibv_qp *qp);
    const char *(*wc_status_str)(enum ibv_wc_status status);
    // librdmacm
    struct rdma_event_channel *(*create_event_channel)(void);
    void (*destroy_event_channel)(struct rdma_event_channel *channel);
    int (*create_id)(struct rdma_event_channel *channel, struct rdma_cm_id **id, void *context,
                     enum rdma_port_space ps);
    int (*destroy_id)(struct rdma_cm_id *id);
    int (*bind_addr)(struct rdma_cm_id *id, struct sockaddr *addr);
    int (*resolve_addr)(struct rdma_cm_id *id, struct sockaddr *src, struct sockaddr *dst, int timeout_ms);
    int (*resolve_route)(struct rdma_cm_id *id, int timeout_ms);
    int (*cm_create_qp)(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
    void (*cm_destroy_qp)(struct rdma_cm_id *id);
    int (*connect)(struct rdma_cm_id *id, struct rdma_conn_param *param);
    int (*listen)(struct rdma_cm_id *id, int backlog);
    int (*accept)(struct rdma_cm_id *id, struct rdma_conn_param *param);
    int (*reject)(struct rdma_cm_id *id, const void *private_data, uint8_t private_data_len);
    int (*disconnect)(struct rdma_cm_id *id);
    int (*get_cm_event)(struct rdma_event_channel *channel, struct rdma_cm_event **event);
    int (*ack_cm_event)(struct rdma_cm_event *event);
    const char *(*event_str)(enum rdma_cm_event_type event);
    int (*set_option)(struct rdma_cm_id *id, int level, int optname, void *optval, size_t optlen);
    // The device contexts librdmacm opened itself: its ids only take a PD of one of these.
    struct ibv_context **(*get_devices)(int *num_devices);
    void (*free_devices)(struct ibv_context **list);
    // libnuma
    int (*numa_available)(void);
    int (*numa_max_node)(void);
    int (*numa_node_of_cpu)(int cpu);
    int (*numa_run_on_node)(int node);
    void *(*numa_alloc_onnode)(size_t size, int node);
    void (*numa_free)(void *start, size_t size);
    void (*numa_set_preferred)(int node);
} fab_rdma_api;

enum {
    FAB_RDMA_HAVE_VERBS = 1,
    FAB_RDMA_HAVE_RDMACM = 2,
    FAB_RDMA_HAVE_NUMA = 4,
};

/// Opens libibverbs, librdmacm and libnuma once (thread-safe) and fills api. Returns a bit
/// set of FAB_RDMA_HAVE_*; for each library that failed, a reason is appended to why.
int fab_rdma_load(fab_rdma_api *api, char *why, size_t why_len);

/// The file a loaded RDMA library came from (its name carries the version), or NULL.
/// which: FAB_RDMA_HAVE_VERBS, FAB_RDMA_HAVE_RDMACM or FAB_RDMA_HAVE_NUMA.
const char *fab_rdma_library_path(int which);

// Plain wrappers for calls the verbs headers define inline (they dispatch through the
// provider's ops table and so need no dlsym).
int fab_ibv_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr);
int fab_ibv_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
int fab_ibv_poll_cq(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc);
int fab_ibv_req_notify_cq(struct ibv_cq *cq, int solicited_only);


#ifdef __cplusplus
}
#endif
#endif
