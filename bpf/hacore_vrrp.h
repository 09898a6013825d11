/* Structs and constants shared by the BPF programs, the Cython fast path
 * (which includes this file) and Python (hacore.vrrp.drops mirrors it; a unit
 * test keeps them equal). Plain C only: no kernel or libc headers here.
 */
#ifndef HACORE_VRRP_H
#define HACORE_VRRP_H

#define HACORE_IPPROTO_VRRP 112
#define HACORE_VRRP_TTL 255          /* RFC 5798 5.1.1.3: senders use 255, receivers drop others */
#define HACORE_VRRP_TYPE_ADVERT 1
#define HACORE_VRRP_HDR_LEN 8        /* version/type .. checksum */
#define HACORE_VRRP2_AUTH_LEN 8      /* RFC 3768 5.3.10/11: two words of auth data */
#define HACORE_VRRP3_MAX_INTERVAL_CS 4095 /* 12-bit Max Adver Int, centiseconds */

/* Why an advert was dropped; 0 means accepted. Order and values are ABI. */
enum hacore_drop {
	HACORE_DROP_OK = 0,
	HACORE_DROP_SHORT = 1,          /* shorter than the headers it claims */
	HACORE_DROP_BAD_IP_HEADER = 2,  /* IPv4 header malformed */
	HACORE_DROP_BAD_PROTO = 3,      /* IP protocol is not 112 */
	HACORE_DROP_BAD_TTL = 4,        /* TTL / hop limit is not 255 */
	HACORE_DROP_BAD_VERSION = 5,    /* not the VRRP version this instance runs */
	HACORE_DROP_BAD_TYPE = 6,       /* not an ADVERTISEMENT */
	HACORE_DROP_BAD_ADDR_COUNT = 7, /* count is 0 or disagrees with the length */
	HACORE_DROP_BAD_CHECKSUM = 8,
	HACORE_DROP_WRONG_VRID = 9,
	HACORE_DROP_BAD_INTERVAL = 10,  /* advert interval of 0 */
	HACORE_DROP_BAD_AUTH = 11,      /* auth type or data do not match ours */
	HACORE_DROP_REPLAY = 12,        /* authenticated, but an old counter */
	HACORE_DROP_STRANGER = 13,      /* source outside the link's configured subnet (receive filter) */
	HACORE_DROP__COUNT = 14,
};

/* Checksum variants for VRRPv3 over IPv4 (IPv6 always has the pseudo-header). */
enum hacore_csum {
	HACORE_CSUM_PSEUDO = 0,    /* RFC 5798 as keepalived and FRR send it */
	HACORE_CSUM_NO_PSEUDO = 1, /* RFC 9568 reading: VRRP message only */
};

/* The receive filter's settings for one HA link (bpf/hacore_rx.c, keyed by ifindex).
 * Addresses in network byte order; a mask of 0 admits any IPv4 source. */
struct hacore_rx_conf {
	unsigned char version;       /* 2 or 3 */
	unsigned char vrid;
	unsigned char pad[2];
	unsigned int net4;
	unsigned int mask4;
};

/* A counter of the receive filter: adverts per link, VRID and verdict (HACORE_DROP_OK: passed). */
struct hacore_rx_key {
	unsigned int ifindex;
	unsigned char vrid;
	unsigned char reason;
	unsigned char pad[2];
};

#endif
