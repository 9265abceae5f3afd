// libbpf opens the embedded object, relocates the few sk_buff fields it reads against the running
// kernel's BTF (CO-RE) and attaches it as a raw tracepoint. The program only reads; a failed
// attach leaves nothing behind because nothing is pinned.
#include "fastpath/drop_watch.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <span>

#include "fastpath/drop_watch_abi.h"

namespace podnet::fastpath {

std::span<const unsigned char> drop_watch_object();

struct DropWatch::State {
  bpf_object* obj = nullptr;
  bpf_link* link = nullptr;
  ring_buffer* rb = nullptr;
  int lost_fd = -1;
  std::vector<DropEvent> events;
  size_t max = 0;
  uint64_t overflow = 0;  // reports read past `max`
  ~State() {
    if (rb) ring_buffer__free(rb);
    if (link) bpf_link__destroy(link);
    if (obj) bpf_object__close(obj);
  }
};

namespace {

int on_drop(void* ctx, void* data, size_t size) {
  auto* s = static_cast<DropWatch::State*>(ctx);
  if (size < sizeof(pn_drop_event)) return 0;
  if (s->events.size() >= s->max) {
    ++s->overflow;
    return 0;
  }
  pn_drop_event ev{};
  std::memcpy(&ev, data, sizeof ev);
  DropEvent out;
  out.ts_ns = ev.ts_ns;
  out.reason = ev.reason;
  out.location = ev.location;
  out.ifindex = ev.ifindex;
  out.dev = std::string(ev.dev, strnlen(ev.dev, sizeof ev.dev));
  out.netns = ev.netns;
  out.saddr = ev.saddr;
  out.daddr = ev.daddr;
  out.sport = ntohs(ev.sport);
  out.dport = ntohs(ev.dport);
  out.proto = ev.proto;
  out.reply = ev.reply != 0;
  out.encapsulated = ev.encap != 0;
  s->events.push_back(std::move(out));
  return 0;
}

}  // namespace

Result<std::unique_ptr<DropWatch>> DropWatch::start(const DropFilter& filter) {
  auto s = std::make_unique<State>();
  auto bytes = drop_watch_object();
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "podnet_drop_watch");
  s->obj = bpf_object__open_mem(bytes.data(), bytes.size(), &opts);
  if (!s->obj) return fail("open the drop watch's BPF object", errno);
  if (int err = bpf_object__load(s->obj); err) return fail("load the skb:kfree_skb drop watch", -err);
  bpf_map* fmap = bpf_object__find_map_by_name(s->obj, "pn_drop_filter");
  bpf_map* ring = bpf_object__find_map_by_name(s->obj, "pn_drop_events");
  bpf_map* lost = bpf_object__find_map_by_name(s->obj, "pn_drop_lost");
  bpf_program* prog = bpf_object__find_program_by_name(s->obj, "pn_drop_watch");
  if (!fmap || !ring || !lost || !prog) return fail_msg("the drop watch's BPF object is incomplete");
  pn_drop_filter f{};
  f.saddr = filter.saddr;
  f.sport = htons(filter.sport);
  f.vxlan_port = htons(filter.vxlan_port);
  f.proto = filter.proto;
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(fmap), &zero, &f, BPF_ANY) != 0)
    return fail("set the drop watch's filter", errno);
  s->lost_fd = bpf_map__fd(lost);
  s->rb = ring_buffer__new(bpf_map__fd(ring), on_drop, s.get(), nullptr);
  if (!s->rb) return fail("open the drop watch's ring buffer", errno);
  s->link = bpf_program__attach_raw_tracepoint(prog, "kfree_skb");
  if (!s->link) return fail("attach to the skb:kfree_skb tracepoint", errno);
  return std::unique_ptr<DropWatch>(new DropWatch(std::move(s)));
}

DropWatch::DropWatch(std::unique_ptr<State> s) : state_(std::move(s)) {}
DropWatch::~DropWatch() = default;

std::vector<DropEvent> DropWatch::take(size_t max) {
  state_->max = max;
  state_->events.clear();
  ring_buffer__consume(state_->rb);
  std::vector<DropEvent> out = std::move(state_->events);
  state_->events.clear();
  std::vector<uint64_t> where;
  for (const auto& e : out) where.push_back(e.location);
  auto names = kernel_symbols(where);  // one pass over kallsyms for all of them
  for (auto& e : out) {
    e.reason_name = drop_reason_name(e.reason);
    e.function = names[e.location];
  }
  return out;
}

uint64_t DropWatch::lost() const {
  uint32_t zero = 0;
  uint64_t n = 0;
  (void)bpf_map_lookup_elem(state_->lost_fd, &zero, &n);
  return n + state_->overflow;
}

uint32_t DropWatch::program_id() const {
  bpf_program* prog = bpf_object__find_program_by_name(state_->obj, "pn_drop_watch");
  if (!prog) return 0;
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) != 0) return 0;
  return info.id;
}

std::string drop_reason_name(uint32_t reason) {
  // Read once: the vmlinux BTF is a few MB, the names a few hundred bytes.
  static std::once_flag once;
  static std::map<uint32_t, std::string> names;
  std::call_once(once, [] {
    btf* vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux) return;
    int id = btf__find_by_name_kind(vmlinux, "skb_drop_reason", BTF_KIND_ENUM);
    if (id > 0) {
      const btf_type* t = btf__type_by_id(vmlinux, id);
      const struct btf_enum* e = btf_enum(t);
      for (int i = 0; i < btf_vlen(t); ++i) {
        std::string name = btf__name_by_offset(vmlinux, e[i].name_off);
        if (name.starts_with("SKB_DROP_REASON_")) name = name.substr(16);
        names[static_cast<uint32_t>(e[i].val)] = name;
      }
    }
    btf__free(vmlinux);
  });
  auto it = names.find(reason);
  return it == names.end() ? std::string() : it->second;
}

std::map<uint64_t, std::string> kernel_symbols(const std::vector<uint64_t>& addrs) {
  std::map<uint64_t, std::pair<uint64_t, std::string>> best;  // addr -> (symbol start, name)
  for (uint64_t a : addrs)
    if (a) best[a] = {0, {}};
  std::map<uint64_t, std::string> out;
  if (best.empty()) return out;
  std::ifstream in("/proc/kallsyms");
  std::string line;
  // "ffffffff81000000 T name [module]": the highest text symbol at or below each address.
  while (std::getline(in, line)) {
    if (line.size() < 20 || line[16] != ' ') continue;
    char type = line[17];
    if (type != 't' && type != 'T') continue;
    uint64_t start = std::strtoull(line.c_str(), nullptr, 16);
    if (start == 0) return out;  // kptr_restrict hides the addresses
    for (auto a = best.lower_bound(start); a != best.end(); ++a) {
      if (a->second.first >= start) continue;
      a->second.first = start;
      size_t end = line.find_first_of(" \t", 19);
      a->second.second = line.substr(19, end == std::string::npos ? std::string::npos : end - 19);
    }
  }
  for (const auto& [a, sym] : best) {
    if (sym.second.empty() || a - sym.first > 0x100000) continue;
    char off[24];
    std::snprintf(off, sizeof off, "+0x%llx", static_cast<unsigned long long>(a - sym.first));
    out[a] = sym.second + off;
  }
  return out;
}

std::string kernel_symbol(uint64_t addr) {
  auto names = kernel_symbols({addr});
  return names.count(addr) ? names[addr] : std::string();
}

}  // namespace podnet::fastpath
