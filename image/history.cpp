#include "image/history.hpp"

#include <algorithm>
#include <functional>
#include <map>

#include "image/oci.hpp"
#include "image/present.hpp"
#include "util/fs.hpp"

namespace hvrun::image {

using json = nlohmann::json;

namespace {

uint64_t layer_size(const Store& store, const std::string& diff_id) {
  try {
    return parse_json(read_file(store.layer_dir(diff_id) + "/layer.json"), "layer.json").value("size", 0ull);
  } catch (const std::exception&) {
    return 0;
  }
}

json config_of(const Store& store, const ImageRecord& img) {
  try {
    json c = parse_json(store.config_blob(img), "image config");
    return c.is_object() ? c : json::object();
  } catch (const std::exception&) {
    return json::object();
  }
}

std::string str(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string join(const std::vector<std::string>& v, size_t n) {
  std::string s;
  for (size_t i = 0; i < n && i < v.size(); ++i) s += v[i] + ",";
  return s;
}

}  // namespace

json aligned_history(const json& config, size_t layers) {
  json hist = config.contains("history") && config["history"].is_array() ? config["history"] : json::array();
  size_t with_layer = 0;
  for (auto& h : hist)
    if (!(h.is_object() && h.value("empty_layer", false))) ++with_layer;
  json out = json::array();
  std::string created = str(config, "created");
  for (size_t i = with_layer; i < layers; ++i) {
    json h = json::object();
    if (!created.empty()) h["created"] = created;
    h["comment"] = "layer without history (imported)";
    out.push_back(h);
  }
  for (auto& h : hist) out.push_back(h);
  return out;
}

std::vector<HistoryRow> image_history(const Store& store, const ImageRecord& img) {
  // (layers so far, steps so far) -> image id, for every image in the store.
  std::map<std::string, std::string> at;
  for (const auto& other : store.list()) {
    json h = aligned_history(config_of(store, other), other.layers.size());
    at.emplace(join(other.layers, other.layers.size()) + "#" + std::to_string(h.size()), other.id);
  }
  json hist = aligned_history(config_of(store, img), img.layers.size());
  std::vector<HistoryRow> rows;
  size_t li = 0;
  for (size_t k = 0; k < hist.size(); ++k) {
    const json& h = hist[k].is_object() ? hist[k] : json::object();
    HistoryRow r;
    r.created = str(h, "created");
    r.created_by = str(h, "created_by");
    r.comment = str(h, "comment");
    r.author = str(h, "author");
    r.empty_layer = h.value("empty_layer", false);
    if (!r.empty_layer && li < img.layers.size()) r.size = layer_size(store, img.layers[li++]);
    auto it = at.find(join(img.layers, li) + "#" + std::to_string(k + 1));
    if (it != at.end()) r.id = it->second;
    rows.push_back(std::move(r));
  }
  if (!rows.empty()) rows.back().id = img.id;
  std::reverse(rows.begin(), rows.end());
  return rows;
}

std::string history_graph(const Store& store, std::time_t now) {
  auto imgs = store.list();
  // One node per distinct layer list.
  struct Node {
    std::vector<std::string> layers;
    std::vector<const ImageRecord*> images;
    std::string created;  // the oldest image's
    int parent = -1;
    std::vector<int> children;
  };
  std::vector<Node> nodes;
  std::map<std::vector<std::string>, int> index;
  for (const auto& img : imgs) {
    auto [it, fresh] = index.emplace(img.layers, int(nodes.size()));
    if (fresh) nodes.push_back({img.layers, {}, img.created, -1, {}});
    Node& n = nodes[size_t(it->second)];
    n.images.push_back(&img);
    if (img.created < n.created) n.created = img.created;
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto& l = nodes[i].layers;
    for (size_t len = l.size(); len-- > 0;) {
      auto it = index.find(std::vector<std::string>(l.begin(), l.begin() + long(len)));
      if (it != index.end()) {
        nodes[i].parent = it->second;
        break;
      }
    }
  }
  std::vector<int> roots;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].parent < 0) roots.push_back(int(i));
    else nodes[size_t(nodes[i].parent)].children.push_back(int(i));
  }
  auto by_age = [&](int a, int b) {
    auto& x = nodes[size_t(a)];
    auto& y = nodes[size_t(b)];
    return x.created != y.created ? x.created < y.created : x.layers < y.layers;
  };
  std::sort(roots.begin(), roots.end(), by_age);
  for (auto& n : nodes) std::sort(n.children.begin(), n.children.end(), by_age);

  auto describe = [&](const Node& n) {
    std::vector<const ImageRecord*> im = n.images;
    std::sort(im.begin(), im.end(), [](auto* a, auto* b) { return a->created < b->created; });
    std::string s;
    for (size_t i = 0; i < im.size(); ++i) {
      if (i) s += ", ";
      s += short_id(im[i]->id);
      std::vector<std::string> tags = im[i]->tags;
      std::sort(tags.begin(), tags.end());
      for (auto& t : tags) s += " " + t;
      if (tags.empty()) s += " <none>";
    }
    size_t own = n.layers.size() - (n.parent < 0 ? 0 : nodes[size_t(n.parent)].layers.size());
    s += n.parent < 0 ? " (" + std::to_string(own) + (own == 1 ? " layer" : " layers")
                      : " (+" + std::to_string(own) + (own == 1 ? " layer" : " layers");
    s += ", " + human_age(im.back()->created, now) + ")";
    // The newest image's last step, as a commit message.
    json hist = config_of(store, *im.back()).value("history", json::array());
    if (hist.is_array() && !hist.empty() && hist.back().is_object()) {
      std::string msg = str(hist.back(), "comment");
      if (msg.empty()) msg = str(hist.back(), "created_by");
      if (!msg.empty()) s += " \"" + (msg.size() > 60 ? msg.substr(0, 57) + "..." : msg) + "\"";
    }
    return s;
  };
  std::string out;
  // git-log-like: '*' marks a node, '|' runs down beside the node's later
  // siblings, "\-" opens a child.
  std::function<void(int, const std::string&, bool, bool)> draw = [&](int i, const std::string& prefix, bool last,
                                                                      bool root) {
    const Node& n = nodes[size_t(i)];
    out += prefix + (root ? "" : (last ? "`-" : "|-")) + "* " + describe(n) + "\n";
    std::string child_prefix = root ? prefix : prefix + (last ? "  " : "| ");
    for (size_t c = 0; c < n.children.size(); ++c)
      draw(n.children[c], child_prefix, c + 1 == n.children.size(), false);
  };
  for (int r : roots) draw(r, "", true, true);
  return out;
}

}  // namespace hvrun::image
