// `hvrun commit -c 'INSTRUCTION ARGS'`: Dockerfile instructions applied to
// an image config ("config" object of the OCI/docker image config JSON).
// CMD, ENTRYPOINT (JSON form ["a","b"] or shell form, which becomes
// ["/bin/sh","-c","..."]), ENV k=v [k2=v2 ...] or ENV k v, WORKDIR (a
// relative one joins the current), USER, LABEL k=v [...], EXPOSE 80
// [443/tcp ...], VOLUME /a [/b] or ["/a"], STOPSIGNAL.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace hvrun::image {

// Applies one instruction to `config` (the inner "config" object). Throws
// Error "invalid -c 'LINE': why" for an unknown instruction or bad
// arguments, leaving `config` as it was.
void apply_config_change(nlohmann::json& config, const std::string& line);

}  // namespace hvrun::image
