// hvrun build: a Dockerfile run step by step into images of the store.
//
// Every step's result is an image (untagged, its parent the step before:
// `images` hides them, `images -a` shows them), and a step's cache key
// (cache.hpp) names that image, so a rebuild reuses it. RUN runs the step's
// command in a container or a microVM of the image so far, through the
// engine as `hvrun run` would (the isolation the user chose), and commits
// its changes as one layer. COPY, ADD and WORKDIR change an overlay of the
// image so far in a private mount namespace, chrooted into it, on the host
// (they read the context, never run the image's code). Metadata steps
// (ENV, CMD, LABEL, ...) make a new config and no layer.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

#include "engine/mode.hpp"

namespace hvrun::builder {

struct BuildOptions {
  std::string context;                  // directory
  std::string file;                     // "" = CONTEXT/Dockerfile, else CONTEXT/Containerfile
  std::vector<std::string> tags;        // -t
  std::vector<std::string> build_args;  // K=V, or K (the caller's environment's value)
  std::string target;                   // stage name; "" = the last
  bool no_cache = false;
  engine::Mode isolation = engine::Mode::Container;
  std::string network;                  // RUN steps: none | bridge; "" = as `hvrun run` ($HVRUN_NETWORK, else bridge)
};

// Builds; progress goes to `progress` (BuildKit's plain form), RUN output
// to this process's stdout/stderr. Returns the image id (hex). A failed
// step throws hvrun::Error "FILE:LINE: why" and tags nothing.
std::string build(const std::string& store_root, const BuildOptions& opts, FILE* progress);

}  // namespace hvrun::builder
