/* The receive filter on each HA link: a tc ingress classifier (clsact,
 * direct action). Only VRRP (IP protocol 112) is judged; everything else
 * passes untouched. An advert passes only with TTL / hop limit 255, this
 * link's VRRP version and type, its VRID, and a source the link admits (the
 * configured IPv4 subnet; IPv6 adverts come from link-local addresses).
 * The rest is dropped here, before it can fill the daemon's socket queue
 * and hide the peer's real adverts, and counted per (ifindex, VRID,
 * reason). The daemon still authenticates every advert that passes.
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/ipv6.h>
#include "hacore_vrrp.h"

BPF_HASH(rx_conf, u32, struct hacore_rx_conf, 64);
BPF_HASH(rx_counts, struct hacore_rx_key, u64, 4096);

static __always_inline int verdict(struct __sk_buff *skb, u8 vrid, u8 reason)
{
	struct hacore_rx_key k = {};
	u64 zero = 0, *n;

	k.ifindex = skb->ifindex;
	k.vrid = vrid;
	k.reason = reason;
	n = rx_counts.lookup_or_try_init(&k, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return reason == HACORE_DROP_OK ? TC_ACT_OK : TC_ACT_SHOT;
}

static __always_inline int judge(struct __sk_buff *skb, struct hacore_rx_conf *c, u8 *v, void *end, u8 ttl)
{
	if ((void *)(v + 2) > end)
		return verdict(skb, 0, HACORE_DROP_SHORT);
	if (ttl != HACORE_VRRP_TTL)
		return verdict(skb, v[1], HACORE_DROP_BAD_TTL);
	if ((v[0] >> 4) != c->version)
		return verdict(skb, v[1], HACORE_DROP_BAD_VERSION);
	if ((v[0] & 0x0f) != HACORE_VRRP_TYPE_ADVERT)
		return verdict(skb, v[1], HACORE_DROP_BAD_TYPE);
	if (v[1] != c->vrid)
		return verdict(skb, v[1], HACORE_DROP_WRONG_VRID);
	return -1;
}

int hacore_rx(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct hacore_rx_conf *c;
	u32 ifindex = skb->ifindex;
	int rc;

	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	c = rx_conf.lookup(&ifindex);
	if (!c)
		return TC_ACT_OK;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		u8 *v;
		u32 ihl;

		if ((void *)(ip + 1) > end || ip->protocol != HACORE_IPPROTO_VRRP)
			return TC_ACT_OK;
		ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip))
			return verdict(skb, 0, HACORE_DROP_BAD_IP_HEADER);
		v = (u8 *)ip + ihl;
		rc = judge(skb, c, v, end, ip->ttl);
		if (rc >= 0)
			return rc;
		if ((ip->saddr & c->mask4) != c->net4)
			return verdict(skb, v[1], HACORE_DROP_STRANGER);
		return verdict(skb, v[1], HACORE_DROP_OK);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		u8 *v = (u8 *)(ip6 + 1);

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != HACORE_IPPROTO_VRRP)
			return TC_ACT_OK;
		rc = judge(skb, c, v, end, ip6->hop_limit);
		if (rc >= 0)
			return rc;
		/* fe80::/10 */
		if (ip6->saddr.in6_u.u6_addr8[0] != 0xfe || (ip6->saddr.in6_u.u6_addr8[1] & 0xc0) != 0x80)
			return verdict(skb, v[1], HACORE_DROP_STRANGER);
		return verdict(skb, v[1], HACORE_DROP_OK);
	}
	return TC_ACT_OK;
}
