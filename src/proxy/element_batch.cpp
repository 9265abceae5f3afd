// libnftnl batch of chain, rule and set element messages, sent with one sendmsg so the kernel applies
// it as one transaction; errors come back as netlink error messages naming the failed operation.
#include "proxy/element_batch.h"

#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <malloc.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace podnet::proxy {
namespace {

constexpr size_t kElementsPerMessage = 512;  // ~30 KB messages, well inside a batch page
constexpr uint32_t kPageSize = 1 << 20;
constexpr uint32_t kPageOverrun = 256 << 10;

void put(ElementBytes& b, const void* p, size_t n, bool key) {
  uint8_t* dst = key ? b.key : b.data;
  uint32_t& len = key ? b.key_len : b.data_len;
  std::memcpy(dst + len, p, n);
  size_t padded = (n + 3) & ~size_t{3};
  std::memset(dst + len + n, 0, padded - n);
  len += padded;
}
void put_ip(ElementBytes& b, const Ip& ip, bool key) {
  put(b, ip.bytes.data(), ip.size(), key);
}
void put_port(ElementBytes& b, uint16_t port, bool key) {
  uint8_t be[2] = {static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port)};
  put(b, be, 2, key);
}
void put_frontend(ElementBytes& b, const Frontend& fe) {
  put_ip(b, fe.addr, true);
  put(b, &fe.proto, 1, true);
  put_port(b, fe.port, true);
}

struct SetDeleter {
  void operator()(nftnl_set* s) const { nftnl_set_free(s); }
};
struct BatchDeleter {
  void operator()(nftnl_batch* b) const { nftnl_batch_free(b); }
};

// Groups consecutive operations on the same set into messages and appends them to the batch.
class MessageBuilder {
 public:
  MessageBuilder(nftnl_batch* batch, const RulesetConfig& cfg, uint32_t& seq,
                 std::map<uint32_t, std::string>& labels)
      : batch_(batch), cfg_(cfg), seq_(seq), labels_(labels) {}

  Status add(const ElementOp& op) {
    if (op.kind == ElementOp::Kind::kFlush) {
      PODNET_TRY(flushed, flush());
      (void)flushed;
      return emit(op);
    }
    if (!current_ || !same_group(op) || count_ == kElementsPerMessage) {
      PODNET_TRY(flushed, flush());
      (void)flushed;
      start(op);
    }
    nftnl_set_elem* e = nftnl_set_elem_alloc();
    if (!e) return fail("allocate set element", ENOMEM);
    ElementBytes bytes = encode_element(op);
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, bytes.key, bytes.key_len);
    if (op.kind == ElementOp::Kind::kAdd) {
      if (op.set == SetId::kServiceIps) {
        nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, static_cast<uint32_t>(NFT_GOTO));
        chain_names_.push_back(op.chain.name());
        nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain_names_.back().c_str());
      } else if (bytes.data_len) {
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, bytes.data, bytes.data_len);
      }
    }
    nftnl_set_elem_add(current_.get(), e);
    ++count_;
    return {};
  }

  Result<bool> flush() {
    if (!current_) return false;
    auto s = write_message(current_op_);
    current_.reset();
    chain_names_.clear();
    count_ = 0;
    if (!s) return std::unexpected(s.error());
    return true;
  }

  size_t messages() const { return messages_; }

 private:
  bool same_group(const ElementOp& op) const {
    return op.kind == current_op_.kind && op.set == current_op_.set && op.timeout == current_op_.timeout &&
           op.family() == current_op_.family() &&
           (op.shard == current_op_.shard || table_of(op, cfg_) == table_);
  }
  void start(const ElementOp& op) {
    current_.reset(nftnl_set_alloc());
    current_op_ = op;
    name_ = set_name(op.set, op.timeout);
    table_ = table_of(op, cfg_);
    nftnl_set_set_str(current_.get(), NFTNL_SET_TABLE, table_.c_str());
    nftnl_set_set_str(current_.get(), NFTNL_SET_NAME, name_.c_str());
  }
  // A DELSETELEM without elements flushes the set.
  Status emit(const ElementOp& op) {
    start(op);
    auto s = write_message(op);
    current_.reset();
    return s;
  }
  Status write_message(const ElementOp& op) {
    const bool add = op.kind == ElementOp::Kind::kAdd;
    const uint16_t family = op.family() == Family::kIPv4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
    labels_[seq_] = std::string(op.kind == ElementOp::Kind::kFlush ? "flush "
                                : add                              ? "add elements to "
                                                                   : "delete elements of ") +
                    nft_family(op.family()) + " " + table_ + " " + name_;
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(static_cast<char*>(nftnl_batch_buffer(batch_)),
                                          add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, family,
                                          add ? NLM_F_CREATE : 0, seq_++);
    nftnl_set_elems_nlmsg_build_payload(nlh, current_.get());
    ++messages_;
    if (nftnl_batch_update(batch_) < 0) return fail("grow nftables batch", ENOMEM);
    return {};
  }

  nftnl_batch* batch_;
  const RulesetConfig& cfg_;
  uint32_t& seq_;
  std::map<uint32_t, std::string>& labels_;
  std::unique_ptr<nftnl_set, SetDeleter> current_;
  ElementOp current_op_;
  std::string name_;
  std::string table_;
  std::vector<std::string> chain_names_;  // libnftnl copies strings, but only when building
  size_t count_ = 0;
  size_t messages_ = 0;
};

struct RuleDeleter {
  void operator()(nftnl_rule* r) const { nftnl_rule_free(r); }
};

// Register numbers as the kernel counts them: NFT_REG_1 is the 128-bit view of 32-bit registers
// 8..11, which concatenations fill field by field, each field rounded up to 4 bytes.
constexpr uint32_t kReg32Base = NFT_REG32_00;

class RuleBuilder {
 public:
  RuleBuilder(Family f, const std::string& table, const std::string& chain)
      : rule_(nftnl_rule_alloc()), family_(f) {
    nftnl_rule_set_u32(rule_.get(), NFTNL_RULE_FAMILY, nfproto());
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_TABLE, table.c_str());
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_CHAIN, chain.c_str());
  }
  uint32_t nfproto() const { return family_ == Family::kIPv4 ? NFPROTO_IPV4 : NFPROTO_IPV6; }
  uint32_t addr_len() const { return family_ == Family::kIPv4 ? 4 : 16; }

  void payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t reg32) {
    auto* e = nftnl_expr_alloc("payload");
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, reg(reg32));
    nftnl_rule_add_expr(rule_.get(), e);
  }
  void meta_load(uint32_t key, uint32_t reg32) {
    auto* e = nftnl_expr_alloc("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, reg(reg32));
    nftnl_rule_add_expr(rule_.get(), e);
  }
  void meta_store(uint32_t key, uint32_t reg32) {
    auto* e = nftnl_expr_alloc("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, reg(reg32));
    nftnl_rule_add_expr(rule_.get(), e);
  }
  // reg = (reg & mask) ^ xor
  void bitwise(uint32_t reg32, uint32_t mask, uint32_t xor_value) {
    auto* e = nftnl_expr_alloc("bitwise");
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg(reg32));
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg(reg32));
    nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, 4);
    nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor_value, 4);
    nftnl_rule_add_expr(rule_.get(), e);
  }
  void numgen_random(uint32_t modulus, uint32_t reg32) {
    auto* e = nftnl_expr_alloc("numgen");
    nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, reg(reg32));
    nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, modulus);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
    nftnl_rule_add_expr(rule_.get(), e);
  }
  void map_lookup(const std::string& set, uint32_t sreg32, uint32_t dreg32) {
    auto* e = nftnl_expr_alloc("lookup");
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, reg(sreg32));
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, reg(dreg32));
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
    nftnl_rule_add_expr(rule_.get(), e);
  }
  void goto_chain(const std::string& chain) {
    auto* e = nftnl_expr_alloc("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(NFT_GOTO));
    nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain.c_str());
    nftnl_rule_add_expr(rule_.get(), e);
  }
  // A verdict map lookup: the matching element's verdict ends the rule.
  void vmap_lookup(const std::string& set, uint32_t sreg32) {
    auto* e = nftnl_expr_alloc("lookup");
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, reg(sreg32));
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
    nftnl_rule_add_expr(rule_.get(), e);
  }
  // dnat to the address in reg32 and the port right after it.
  void dnat(uint32_t reg32) {
    auto* e = nftnl_expr_alloc("nat");
    uint32_t port_reg = reg32 + addr_len() / 4;
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, nfproto());
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg(reg32));
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, reg(reg32));
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg(port_reg));
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MAX, reg(port_reg));
    nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED);
    nftnl_rule_add_expr(rule_.get(), e);
  }
  // Loads `daddr . l4proto . dport` into 32-bit registers from `first`; returns the next free one.
  uint32_t load_frontend(uint32_t first) {
    payload(NFT_PAYLOAD_NETWORK_HEADER, family_ == Family::kIPv4 ? 16 : 24, addr_len(), first);
    uint32_t next = first + addr_len() / 4;
    meta_load(NFT_META_L4PROTO, next++);
    payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, next++);
    return next;
  }
  void load_saddr(uint32_t reg32) {
    payload(NFT_PAYLOAD_NETWORK_HEADER, family_ == Family::kIPv4 ? 12 : 8, addr_len(), reg32);
  }
  std::unique_ptr<nftnl_rule, RuleDeleter> release() { return std::move(rule_); }

 private:
  // Register 0 of the 32-bit view is 8 (NFT_REG32_00); the first one of the 128-bit view, used
  // for 16-byte values, is NFT_REG_1, which the kernel treats as the same storage.
  static uint32_t reg(uint32_t reg32) {
    return reg32 == 0 ? static_cast<uint32_t>(NFT_REG_1) : kReg32Base + reg32;
  }
  std::unique_ptr<nftnl_rule, RuleDeleter> rule_;
  Family family_;
};

// The rules of a shared chain, as chain_rule_text() spells them.
std::vector<std::unique_ptr<nftnl_rule, RuleDeleter>> shared_chain_rules(const ChainKey& key,
                                                                         const RulesetConfig& cfg) {
  std::vector<std::unique_ptr<nftnl_rule, RuleDeleter>> rules;
  const Family f = key.family;
  const ChainSpec& spec = key.spec;
  const std::string name = spec.name();
  const std::string table = shard_table(key.shard, cfg);
  if (spec.masquerade) {
    RuleBuilder b(f, table, name);
    b.meta_load(NFT_META_MARK, 0);
    b.bitwise(0, ~cfg.masquerade_mark, cfg.masquerade_mark);
    b.meta_store(NFT_META_MARK, 0);
    rules.push_back(b.release());
  }
  if (spec.affinity_timeout) {
    RuleBuilder b(f, table, name);
    b.load_saddr(b.load_frontend(0));
    b.map_lookup(set_name(SetId::kSticky, spec.affinity_timeout), 0, 0);
    b.dnat(0);
    rules.push_back(b.release());
  }
  RuleBuilder b(f, table, name);
  if (spec == spec.plain()) {
    b.numgen_random(spec.endpoints, b.load_frontend(0));
    b.map_lookup(set_name(SetId::kEndpoints, 0), 0, 0);
    b.dnat(0);
  } else {
    // Only plain chains use the big map: the kernel checks each element against every rule using
    // the map, so every such rule costs on each of the 10^6 inserts.
    b.goto_chain(spec.plain().name());
  }
  rules.push_back(b.release());
  return rules;
}

struct ChainDeleter {
  void operator()(nftnl_chain* c) const { nftnl_chain_free(c); }
};

// NEWCHAIN without NLM_F_EXCL is "add": a no-op for a chain that exists.
Status write_chain_message(nftnl_batch* batch, uint16_t type, Family f, const std::string& table,
                           const std::string& name, uint32_t& seq, std::map<uint32_t, std::string>& labels) {
  labels[seq] = std::string(type == NFT_MSG_NEWCHAIN ? "add chain " : "delete chain ") + nft_family(f) + " " +
                table + " " + name;
  std::unique_ptr<nftnl_chain, ChainDeleter> chain(nftnl_chain_alloc());
  if (!chain) return fail("allocate chain", ENOMEM);
  const uint16_t family = f == Family::kIPv4 ? NFPROTO_IPV4 : NFPROTO_IPV6;
  nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(chain.get(), NFTNL_CHAIN_NAME, name.c_str());
  auto* nlh = nftnl_nlmsg_build_hdr(static_cast<char*>(nftnl_batch_buffer(batch)), type, family,
                                    type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0, seq++);
  nftnl_chain_nlmsg_build_payload(nlh, chain.get());
  if (nftnl_batch_update(batch) < 0) return fail("grow nftables batch", ENOMEM);
  return {};
}

// Reads what the kernel answered. Netlink to the kernel is synchronous: by the time sendmsg
// returns, every error of the batch is queued on the socket, and success queues nothing.
Status read_errors(int fd, const std::map<uint32_t, std::string>& labels) {
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
      if (errno == EINTR) continue;
      return fail("read nftables batch reply");
    }
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nlh, static_cast<size_t>(n));
         nlh = NLMSG_NEXT(nlh, n)) {
      if (nlh->nlmsg_type != NLMSG_ERROR) continue;
      auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(nlh));
      if (err->error == 0) continue;
      auto label = labels.find(err->msg.nlmsg_seq);
      return fail("nftables batch: " + (label == labels.end() ? std::string("a message") : label->second) +
                      " refused",
                  -err->error);
    }
  }
}

}  // namespace

ElementBytes encode_element(const ElementOp& op) {
  ElementBytes b;
  switch (op.set) {
    case SetId::kHairpin:
      put_ip(b, op.key.addr, true);
      put_ip(b, op.key.addr, true);
      break;
    case SetId::kEndpoints:
      put_frontend(b, op.key);
      put(b, &op.index, 4, true);  // numgen's result is a host-order 32-bit register
      put_ip(b, op.backend.addr, false);
      put_port(b, op.backend.port, false);
      break;
    default:
      put_frontend(b, op.key);
  }
  return b;
}

Result<ElementBatchWriter> ElementBatchWriter::open() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return fail("open netfilter netlink socket");
  UniqueFd owned(fd);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail("bind netfilter netlink socket");
  return ElementBatchWriter(std::move(owned));
}

Status ElementBatchWriter::apply(const Transaction& tx, const RulesetConfig& cfg) {
  size_t bytes = 0;
  Status s = send(tx, cfg, bytes);
  // A full sync's batch is tens of MB in 1 MB pages that malloc keeps for reuse; the proxy is
  // long-lived and rarely needs them again, so give them back (once everything is freed).
  if (bytes > (16u << 20)) ::malloc_trim(0);
  return s;
}

Status ElementBatchWriter::send(const Transaction& tx, const RulesetConfig& cfg, size_t& total) {
  if (!tx.full && tx.ops.empty() && tx.chain_rules.empty() && tx.chain_deletes.empty()) return {};
  std::unique_ptr<nftnl_batch, BatchDeleter> batch(nftnl_batch_alloc(kPageSize, kPageOverrun));
  if (!batch) return fail("allocate nftables batch", ENOMEM);
  nftnl_batch_begin(static_cast<char*>(nftnl_batch_buffer(batch.get())), seq_++);
  nftnl_batch_update(batch.get());
  std::map<uint32_t, std::string> labels;  // what each message did, for error messages
  MessageBuilder elements(batch.get(), cfg, seq_, labels);
  // Element messages are grouped; anything else written directly must first close the group.
  auto direct = [&]() -> Status {
    auto f = elements.flush();
    if (!f) return std::unexpected(f.error());
    return {};
  };
  auto rule_message = [&](uint16_t type, Family family, nftnl_rule* rule) -> Status {
    labels[seq_] = std::string(type == NFT_MSG_NEWRULE ? "add rule to " : "flush ") + nft_family(family) +
                   " " + nftnl_rule_get_str(rule, NFTNL_RULE_TABLE) + " " +
                   nftnl_rule_get_str(rule, NFTNL_RULE_CHAIN);
    auto* nlh = nftnl_nlmsg_build_hdr(static_cast<char*>(nftnl_batch_buffer(batch.get())), type,
                                      family == Family::kIPv4 ? NFPROTO_IPV4 : NFPROTO_IPV6,
                                      type == NFT_MSG_NEWRULE ? NLM_F_APPEND | NLM_F_CREATE : 0, seq_++);
    nftnl_rule_nlmsg_build_payload(nlh, rule);
    if (nftnl_batch_update(batch.get()) < 0) return fail("grow nftables batch", ENOMEM);
    return {};
  };
  // Flush and refill in one transaction: a chain keeps working until its new rule replaces it.
  auto rewrite_chain = [&](Family family, const std::string& table, const std::string& chain,
                           std::vector<std::unique_ptr<nftnl_rule, RuleDeleter>> rules) -> Status {
    RuleBuilder all(family, table, chain);  // no handle: every rule of the chain
    if (auto s = rule_message(NFT_MSG_DELRULE, family, all.release().get()); !s) return s;
    for (auto& rule : rules)
      if (auto s = rule_message(NFT_MSG_NEWRULE, family, rule.get()); !s) return s;
    return {};
  };

  if (tx.full)
    for (const auto& op : tx.full->full_flushes())
      if (auto s = elements.add(op); !s) return s;
  for (const auto& key : tx.chain_rules) {
    if (auto s = direct(); !s) return s;
    const std::string table = shard_table(key.shard, cfg);
    if (auto s = write_chain_message(batch.get(), NFT_MSG_NEWCHAIN, key.family, table, key.spec.name(), seq_,
                                     labels);
        !s)
      return s;
    if (auto s = rewrite_chain(key.family, table, key.spec.name(), shared_chain_rules(key, cfg)); !s)
      return s;
  }
  if (tx.full) {
    if (auto s = direct(); !s) return s;
    for (Family family : kFamilies)
      for (uint32_t shard = 0; shard < std::max<uint32_t>(cfg.shards, 1); ++shard)
        for (const char* chain : {"nat-prerouting", "nat-output"}) {
          const std::string table = shard_table(shard, cfg);
          std::vector<std::unique_ptr<nftnl_rule, RuleDeleter>> rules;
          RuleBuilder b(family, table, chain);
          b.load_frontend(0);
          b.vmap_lookup(set_name(SetId::kServiceIps, 0), 0);
          rules.push_back(b.release());
          if (auto s = rewrite_chain(family, table, chain, std::move(rules)); !s) return s;
        }
    Status status;
    tx.full->for_each_element([&](const ElementOp& op) {
      if (status) status = elements.add(op);
    });
    if (!status) return status;
  }
  for (const auto& op : tx.ops)
    if (auto s = elements.add(op); !s) return s;
  // Last, so the elements that led to them are already gone within this transaction.
  for (const auto& key : tx.chain_deletes) {
    if (auto s = direct(); !s) return s;
    if (auto s = write_chain_message(batch.get(), NFT_MSG_DELCHAIN, key.family, shard_table(key.shard, cfg),
                                     key.spec.name(), seq_, labels);
        !s)
      return s;
  }
  if (auto s = direct(); !s) return s;

  nftnl_batch_end(static_cast<char*>(nftnl_batch_buffer(batch.get())), seq_++);
  nftnl_batch_update(batch.get());

  int iov_count = nftnl_batch_iovec_len(batch.get());
  std::vector<iovec> iov(iov_count);
  nftnl_batch_iovec(batch.get(), iov.data(), iov_count);
  for (const auto& v : iov) total += v.iov_len;
  // The whole batch must arrive as one message to be one transaction: size the send buffer for it.
  int sndbuf = static_cast<int>(std::min<size_t>(total + (1 << 16), INT32_MAX));
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0 &&
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0)
    return fail("size netlink send buffer");

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  msghdr msg{};
  msg.msg_name = &kernel;
  msg.msg_namelen = sizeof kernel;
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  ssize_t sent;
  do sent = ::sendmsg(fd_.get(), &msg, 0);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) return fail("send nftables batch of " + std::to_string(total) + " bytes");
  Status result = read_errors(fd_.get(), labels);
  return result;
}

}  // namespace podnet::proxy
