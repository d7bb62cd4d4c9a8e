// SynchroRaMa front-end glue (served through WEB_DIRECTORY).
//
// SynchroRaMa Load Audio marks its file combo with `audio_upload`, like core Load Audio. The
// front-end then appends an upload button whose code needs an audio player widget named
// `audioUI`, but it adds that player only to a fixed list of core nodes. Without it the node
// cannot be created (TypeError in the upload widget) and workflows using it do not load.
// Give our node the player too, placed before the upload button as core does. Only when this
// front-end has the audio-upload feature (it added `upload`) and no `audioUI` yet.
import { app } from "../../scripts/app.js";

const AUDIO_UPLOAD_NODES = new Set(["SynchroRaMaLoadAudio"]);

app.registerExtension({
  name: "SynchroRaMa.AudioUpload",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!AUDIO_UPLOAD_NODES.has(nodeData?.name)) return;
    const req = nodeData.input?.required;
    if (!req || !req.upload || req.audioUI) return;
    const upload = req.upload;
    delete req.upload;
    req.audioUI = ["AUDIO_UI", {}];
    req.upload = upload;
  },
});
