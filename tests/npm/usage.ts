// Compiled with `tsc --noEmit` against the npm package's generated types
// (`cargo xtask test` packs it first). Each `@ts-expect-error` line must be
// an error: if an option were typed `any`, tsc would report the directive
// as unused and this check would fail.
import init, {
  Call,
  Camera,
  Effects,
  Janus,
  RawModel,
  configureVision,
  loadVision,
  probeVisionBuild,
  JanusEchoTest,
  JanusStreaming,
  JanusVideoRoom,
  Room,
  Whep,
  Whip,
  runningObjects,
  type EffectsStats,
  type FramePath,
  type OutputKind,
  type PeerInfo,
  type PeerStats,
} from "peerlens";

export async function usage(video: HTMLVideoElement): Promise<void> {
  await init();
  const camera: Camera = await Camera.open({ width: 640, height: 480, audio: true });
  const running: number = runningObjects();
  console.log(running);
  // @ts-expect-error width is a number
  await Camera.open({ width: "640" });

  const effects: Effects = await Effects.load({
    modelBase: "/models",
    settings: { faceBoxes: true, background: { kind: "blur", radius: 10 } },
    onProgress: ({ loaded, total }) => console.log(loaded, total ?? 0),
    onStats: (stats: EffectsStats) =>
      console.log(stats.fpsOut.toFixed(1), stats.ms.total, stats.workers.map((w) => w.role)),
    onError: (error: Error) => console.log(error.name),
  });
  // @ts-expect-error the background kind is a closed set
  await Effects.load({ settings: { background: { kind: "sparkles" } } });
  const processed: MediaStream = await effects.apply(camera.stream);
  video.srcObject = processed;
  const build: string | undefined = effects.visionBuild;
  console.log(build, effects.visionFallback ?? "");
  const path: FramePath | null = effects.path;
  const output: OutputKind | undefined = path?.output;
  console.log(path?.input, output === "mediaStreamTrackGenerator");
  // @ts-expect-error the output kinds are a closed set
  const wrong: OutputKind = "webgl";
  console.log(wrong);
  await Effects.load({ workerOutput: "generator", workers: 2 });
  // @ts-expect-error one or two workers
  await Effects.load({ workers: 3 });
  const workers: number = effects.workers;
  console.log(workers);
  await Effects.load({
    whenHidden: "camera",
    onOutputTrack: (track: MediaStreamTrack) => console.log(track.id),
  });
  // @ts-expect-error "freeze" or "camera"
  await Effects.load({ whenHidden: "blank" });

  const probed: string | undefined = probeVisionBuild();
  configureVision({ build: "simd128" });
  // @ts-expect-error the builds are a closed set
  configureVision({ build: "avx512" });
  configureVision({});
  const vision = await loadVision();
  vision.module.setVisionKernels("tract");
  const gflops: number = vision.module.benchVisionGemm("peerlens", 64, 64, 64, 10);
  console.log(probed, vision.build, vision.fallback ?? "", gflops);
  const model: RawModel = await RawModel.load(new Uint8Array(), [1, 128, 128, 3], [[1, 896, 16]]);
  const outputs: Float32Array[] = model.run(new Float32Array(128 * 128 * 3));
  console.log(model.build, outputs.length, model.matmuls().length);
  model.free();

  const room: Room = Room.join({
    url: "wss://example.test/ws",
    room: "lobby",
    name: "ana",
    codec: "peerlens",
    onJoined: (id: string, peers: PeerInfo[]) => console.log(id, peers.length),
    onTrack: (peer: string, track: MediaStreamTrack, streams: MediaStream[]) =>
      console.log(peer, track.kind, streams.length),
    onPeerLeft: (id, reason) => console.log(id, reason === "failed"),
    onError: (error) => console.log(error.name),
  });
  room.publish(processed);
  const stats: PeerStats = await room.stats("someone");
  console.log(stats.bitrateInBps, stats.rttMs ?? 0);
  // @ts-expect-error a codec needs a known kind
  Room.join({ url: "ws://x", room: "r", codec: { kind: "carrier-pigeon" } });
  room.leave();

  const call: Call = Call.start({
    url: "ws://example.test/",
    stream: processed,
    codec: { kind: "relay", role: "sender" },
    onTrack: (track) => console.log(track.id),
  });
  call.hangUp();

  const whip: Whip = await Whip.publish("https://media.example/whip", processed, {
    token: "t",
    onIceRestarted: () => console.log("restarted"),
  });
  await whip.stop();
  const whep: Whep = await Whep.play("https://media.example/whep", {
    onTrack: (track, streams) => console.log(track.kind, streams.length),
  });
  await whep.stop();

  const janus: Janus = await Janus.connect("wss://janus.example/ws", { keepaliveMs: 20000 });
  const echo: JanusEchoTest = await JanusEchoTest.start(janus, processed, {
    onTrack: (track) => console.log(track.kind),
  });
  echo.stop();
  const videoRoom: JanusVideoRoom = await JanusVideoRoom.join(janus, processed, {
    room: 1234,
    onFeedJoined: (feed: number, display: string) => console.log(feed, display),
  });
  // @ts-expect-error the room id is a number
  await JanusVideoRoom.join(janus, processed, { room: "1234" });
  videoRoom.leave();
  const player: JanusStreaming = await JanusStreaming.watch(janus, 1, {
    onStatus: (status: string) => console.log(status),
  });
  await player.pause();
  await player.stop();
  janus.close();
  effects.stop();
  camera.stop();
}
