/* Probe program: proves at daemon start that bcc can compile against the
 * kernel headers with our shared header, and that the kernel loads a tc
 * classifier (CAP_BPF). It passes every packet and counts them.
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>
#include "hacore_vrrp.h"

BPF_ARRAY(probe_packets, u64, 1);

int hacore_probe(struct __sk_buff *skb)
{
	int key = 0;
	u64 *n = probe_packets.lookup(&key);

	if (n)
		__sync_fetch_and_add(n, 1);
	return TC_ACT_OK;
}
