"""Videos: a film colourised frame by frame, its colour steady over time, its sound and subtitles kept.

PyAV (the FFmpeg libraries inside its wheels; the extra ``colorize-runtime[video]``) demuxes, decodes, encodes
and muxes; no ffmpeg program is run. Each frame's lightness is its luma (for black-and-white footage, the gray
level itself), the network sees it at the Colorizer's working resolution, and the predicted ab is smoothed over
time there (TemporalSmoother); the output frame is then made straight in the encoder's 4:2:0 (colour.recolour_i420:
the frame's own luma, the chroma of its colour at half size), or through colour.recolour for odd frame sizes.
The output is H.264 at the input's frame size, frame rate, time base (where the container allows: Matroska's is
always 1/1000), timestamps and rotation; every audio and subtitle stream the output container can hold is
copied packet for packet. Frames stream through bounded queues between three threads (decode, network,
recolour + encode), so memory does not grow with the film's length.
"""
from __future__ import annotations

import queue
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from colorize_runtime import colour, guided, inputs, options
from colorize_runtime.errors import ColorizeError

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                    ".wmv", ".flv", ".3gp", ".ogv")
# output extension -> FFmpeg muxer; an input's output keeps its container family (MP4 and QuickTime stay so,
# everything else becomes Matroska, which holds nearly every audio and subtitle codec)
OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
DEFAULT_CRF = 20  # libx264's constant rate factor: 0 lossless, 23 its own default, 51 worst
ENCODER_PRESET = "superfast"  # 1080p with grain: 2/3 of veryfast's encoding time, files ~25 % larger
# The weight of the past frames' colour (0 turns smoothing off); chosen with python -m benchmarks.video
DEFAULT_TEMPORAL_SMOOTHING = 0.8
# The network sees every Nth frame; the frames between carry the colour along the optical flow (chosen with
# python -m benchmarks.video: docs/PERFORMANCE.md)
DEFAULT_NETWORK_INTERVAL = 4
MATCH_LIGHTNESS = 6.0  # L units: a pixel whose lightness (5 x 5 mean) differs this much from its motion-
#                        compensated past keeps 1/e of the smoothing weight
CUT_LIGHTNESS, CUT_FRACTION = 15.0, 0.5  # a scene cut: over half the pixels differ from their past by > 15 L
CARRY_MISMATCH = 0.05  # a frame the network would skip is shown to it when over 5 % of it is new (carry)
QUEUE_FRAMES = 4  # frames waiting between two threads
MIN_FLOW_SIDE = 16  # OpenCV's DIS optical flow refuses smaller images: tinier films are coloured frame by frame
INSTALL_HINT = "reading videos needs PyAV: pip install 'av==18.1.0' (in a clone of colorize: pip install '.[video]')"


class VideoFileError(ColorizeError):
    """A video that cannot be read or written; the message is the reason, without the path."""


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def output_extension(source: str | Path) -> str:
    """The extension of a video's output: .mp4 for MP4 and .m4v, .mov for QuickTime, .mkv for the rest."""
    extension = Path(source).suffix.lower()
    return extension if extension in (".mp4", ".mov") else ".mp4" if extension == ".m4v" else ".mkv"


def _import_av():
    try:
        import av
    except ImportError:
        raise VideoFileError(INSTALL_HINT) from None
    return av


class TemporalSmoother:
    """An exponential moving average of the predicted ab over time, at the working resolution, that follows
    motion: the running average is warped onto each new frame with dense optical flow (OpenCV's DIS, a
    millisecond at 160 px), and its weight falls where the warped lightness does not match the new frame
    (occlusions, objects entering) and drops to 0 at a scene cut. strength is the weight of the past a frame
    (0 < s < 1): 0.8 averages about the last 5 frames' guesses, so grain and small motion no longer make the
    colour flicker."""

    def __init__(self, strength: float) -> None:
        self.strength = np.float32(strength)
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.past_lightness: np.ndarray | None = None
        self.past_ab: np.ndarray | None = None
        self.cuts = 0

    def __call__(self, lightness: np.ndarray, ab: np.ndarray, frames: int = 1) -> np.ndarray:
        """L (h, w) and the network's ab (h, w, 2) of the next frame it sees, `frames` frames after the last one it
        saw -> the smoothed ab (h, w, 2). The past's weight is strength ** frames: the average spans the same time
        whichever frames the network sees, and its past is carried over fewer motion warps."""
        warped = self._warp(lightness)
        if warped is None or self._is_cut(warped[1]):
            return self._remember(lightness, ab)
        past_ab, difference = warped
        weight = self.strength ** frames * np.exp(-np.square(difference * np.float32(1 / MATCH_LIGHTNESS)))[..., None]
        return self._remember(lightness, ab + weight * (past_ab - ab))

    def carry(self, lightness: np.ndarray) -> np.ndarray | None:
        """The colour of a frame the network does not see: the past ab moved along the optical flow onto L (h, w).
        None where the past does not explain the frame (no past, or over CARRY_MISMATCH of its pixels off their
        moved past by more than MATCH_LIGHTNESS: something new came in, or a cut): the network must see it."""
        warped = self._warp(lightness)
        if warped is None or np.count_nonzero(warped[1] > MATCH_LIGHTNESS) > CARRY_MISMATCH * lightness.size:
            return None
        return self._remember(lightness, warped[0])

    def _is_cut(self, difference: np.ndarray) -> bool:
        if np.count_nonzero(difference > CUT_LIGHTNESS) > CUT_FRACTION * difference.size:
            self.cuts += 1
            return True
        return False

    def _warp(self, lightness: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The past ab warped onto L and the 5 x 5 mean lightness mismatch (None with no past)."""
        if self.past_lightness is None or self.past_lightness.shape != lightness.shape:
            return None
        scale = np.float32(255 / 100)
        flow = self.flow.calc(cv2.convertScaleAbs(lightness, alpha=scale),
                              cv2.convertScaleAbs(self.past_lightness, alpha=scale), None)
        h, w = lightness.shape
        flow[..., 0] += np.arange(w, dtype=np.float32)  # flow -> sampling map: pixel x came from x + flow(x)
        flow[..., 1] += np.arange(h, dtype=np.float32)[:, None]
        past_lightness = cv2.remap(self.past_lightness, flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # the difference averaged over 5 x 5 pixels: grain cancels out, a real mismatch (an occlusion) does not
        difference = np.abs(cv2.blur(lightness - past_lightness, (5, 5)))
        return cv2.remap(self.past_ab, flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), difference

    def _remember(self, lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
        self.past_lightness, self.past_ab = lightness, ab
        return ab


def checked_interval(interval: int | None) -> int:
    """The network interval to use (None: the default); ColorizeError unless it is a whole number >= 1."""
    interval = DEFAULT_NETWORK_INTERVAL if interval is None else interval
    if isinstance(interval, bool) or not isinstance(interval, (int, np.integer)) or interval < 1:
        raise ColorizeError(f"the network interval must be a whole number of frames, 1 or more, not {interval!r}")
    return int(interval)


def smoothing_strength(temporal_smoothing: float | None) -> float:
    """The smoothing strength to use (None: the default); ColorizeError if it is outside [0, 1)."""
    strength = DEFAULT_TEMPORAL_SMOOTHING if temporal_smoothing is None else float(temporal_smoothing)
    if not 0 <= strength < 1:
        raise ColorizeError(f"temporal smoothing must be at least 0 and below 1, not {temporal_smoothing}")
    return strength


class FrameColorizer:
    """The colour of a film's frames, one after another: the network's ab at the working resolution for each
    frame, smoothed over time (TemporalSmoother; strength 0: each frame alone). rotation (degrees counter-
    clockwise, multiples of 90, as a video's display matrix gives it) turns what the network sees upright.
    The network sees every interval-th frame (and the first after a scene cut); the frames between take the
    last colour moved along the optical flow (TemporalSmoother.carry): colour changes slowly, the network is the
    costliest stage, and the smoothing would average the skipped guesses away anyway. One network pass a frame
    unless mirror (off by default, unlike photos): the smoothing averages many frames' guesses, which the
    mirror pass would only repeat at twice the cost."""

    def __init__(self, colorizer, temporal_smoothing: float | None = None, rotation: int = 0,
                 mirror: bool = False, interval: int | None = None, reference=None,
                 reference_strength: float = 1.0) -> None:
        strength = smoothing_strength(temporal_smoothing)
        self.interval = checked_interval(interval)
        self.colorizer = colorizer
        self.smoother = TemporalSmoother(strength) if strength or self.interval > 1 else None
        self.turns = round(rotation / 90) % 4
        self.mirror = mirror
        # a reference photo's colours guide every frame as they guide a photo (the guided model: guided.Reference,
        # its distribution to the network, its colours carried over by guided.transfer_reference)
        self.reference_strength = guided.check_reference_strength(reference_strength)
        self.reference = None if reference is None or self.reference_strength == 0 \
            else colorizer.reference(reference)
        self.global_hint = None if self.reference is None else self.reference.distribution
        self.since_network = 0  # frames since the network last saw one, the current one included

    @property
    def cuts(self) -> int:
        return self.smoother.cuts if self.smoother else 0

    def colour(self, image: np.ndarray) -> np.ndarray:
        """Gray (H, W) or BGR (H, W, 3) frame -> float32 ab (h, w, 2) at the working resolution."""
        lightness = np.ascontiguousarray(np.rot90(self.colorizer.working_lightness(image), self.turns))
        self.since_network += 1
        ab = None
        smoother = self.smoother if min(lightness.shape) >= MIN_FLOW_SIDE else None
        if smoother is not None and self.since_network < self.interval:
            ab = smoother.carry(lightness)
        if ab is None:
            ab = self.colorizer.colour_of_lightness(lightness, mirror=self.mirror, global_hint=self.global_hint)
            if self.reference is not None:
                ab = guided.transfer_reference(ab, lightness, self.reference, self.reference_strength)
            if smoother is not None:
                ab = smoother(lightness, ab, frames=self.since_network)
            self.since_network = 0
        return np.rot90(ab, -self.turns)


def colorize_frames(colorizer, frames: Iterable, temporal_smoothing: float | None = None,
                    mirror: bool = False, network_interval: int | None = None, reference=None, rgb: bool = False,
                    reference_strength: float = 1.0) -> Iterator:
    """Colourise frames in order: gray (H, W) or BGR (H, W, 3), uint8 or uint16 -> BGR frames of the same size
    and dtype, their colour smoothed over time (strength temporal_smoothing, default DEFAULT_TEMPORAL_SMOOTHING,
    0 off) and reset at scene cuts; the network sees every network_interval-th frame (default
    DEFAULT_NETWORK_INTERVAL; 1: every frame), the others carry the colour along the motion (FrameColorizer).
    A frame may also be anything else colorize takes (inputs.accept: RGB with rgb, a PIL image, a path, bytes),
    and comes back in the same kind. Frames are taken one at a time, so any length streams. reference and
    reference_strength: as colorize_video takes them."""
    film = FrameColorizer(colorizer, temporal_smoothing, mirror=mirror, interval=network_interval,
                          reference=reference, reference_strength=reference_strength)
    for frame in frames:
        image, give_back = inputs.accept(frame, rgb)
        if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3) or image.size == 0 \
                or (image.ndim == 3 and image.shape[2] != 3):
            raise ColorizeError(f"expected a gray (H, W) or {'RGB' if rgb else 'BGR'} (H, W, 3) uint8 or uint16 "
                                f"frame, got {image.dtype} {image.shape}")
        yield give_back(colour.recolour(image, film.colour(image)))


@dataclass
class VideoResult:
    """What colorize_video did: frames written, size (coded, before rotation), seconds taken, scene cuts found,
    and notes (streams that could not be copied)."""
    target: Path
    frames: int
    width: int
    height: int
    seconds: float
    cuts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def _reason(error: Exception) -> str:
    """An FFmpeg error as a reason: its message without the errno and the file name PyAV adds."""
    return getattr(error, "strerror", None) or str(error).split(";")[0] or type(error).__name__


class _Stop(Exception):
    """Raised in a worker thread when the pipeline is shutting down (an error elsewhere, or Ctrl-C)."""


class _Pipe:
    """A bounded queue between two pipeline threads that gives up when the pipeline stops."""

    def __init__(self, stop: threading.Event) -> None:
        self.queue: queue.Queue = queue.Queue(QUEUE_FRAMES)
        self.stop = stop

    def put(self, item) -> None:
        while not self.stop.is_set():
            try:
                return self.queue.put(item, timeout=0.1)
            except queue.Full:
                continue
        raise _Stop

    def get(self):
        while not self.stop.is_set():
            try:
                return self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
        raise _Stop


_END = object()  # the last item through a pipe


class _Failure:
    """An exception raised in a worker thread, passed down the pipeline to be raised in the caller's."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _worker(target: Callable[[], None], output: _Pipe) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except _Stop:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread, which raises it
            try:
                output.put(_Failure(error))
            except _Stop:
                pass

    thread = threading.Thread(target=run, name=f"colorize-video-{target.__name__}", daemon=True)
    thread.start()
    return thread


_TV_TO_FULL_RANGE = np.clip(np.round((np.arange(256) - 16) * (255 / 219)), 0, 255).astype(np.uint8)[None]
_PLANAR_YUV = ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray")


def _luma(frame) -> np.ndarray:
    """A decoded frame's lightness as a full-range gray uint8 (H, W): the Y plane itself for 8-bit YUV (range
    expanded with a table when it is TV range), else FFmpeg's conversion to gray."""
    from av.video.reformatter import ColorRange

    if frame.format.name not in _PLANAR_YUV:
        return frame.to_ndarray(format="gray")
    plane = frame.planes[0]
    y = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]
    full_range = frame.format.name.startswith("yuvj") or frame.format.name == "gray" \
        or frame.color_range == ColorRange.JPEG
    return np.ascontiguousarray(y) if full_range else cv2.LUT(y, _TV_TO_FULL_RANGE)


def _open_input(av, source: Path):
    try:
        status = source.stat()
    except FileNotFoundError:
        raise VideoFileError("no such file") from None
    except OSError as error:
        raise VideoFileError(f"cannot read: {error.strerror or error}") from None
    except ValueError:  # a NUL byte in the name
        raise VideoFileError(f"cannot read {str(source)!r}: not a file name") from None
    size = status.st_size
    if stat.S_ISDIR(status.st_mode):
        raise VideoFileError("is a folder, not a video file")
    if not stat.S_ISREG(status.st_mode):
        from colorize_runtime import files

        raise VideoFileError(files.not_a_regular_file(status.st_mode))
    if size == 0:
        raise VideoFileError("empty file (0 bytes)")
    try:
        container = av.open(str(source), metadata_errors="ignore")
    except PermissionError:
        raise VideoFileError("permission denied") from None
    except (av.FFmpegError, OSError, ValueError) as error:
        raise VideoFileError(f"not a video FFmpeg can read, or truncated or damaged ({_reason(error)})") from None
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams})
        container.close()
        raise VideoFileError("no video stream" + (f" (only {', '.join(kinds)})" if kinds else ""))
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.codec.is_decoder:
        container.close()
        raise VideoFileError(f"unsupported video codec ({stream.codec_context and stream.codec_context.name})")
    stream.thread_type = "AUTO"
    return container, stream


def _copyable_streams(output, container, notes: list[str]) -> list:
    """The audio and subtitle streams the output container can hold; a note for each other one."""
    copyable = []
    for stream in container.streams:
        if stream.type not in ("audio", "subtitle"):
            continue
        name = stream.codec_context.name if stream.codec_context else stream.codec.name
        if name in output.supported_codecs:
            copyable.append(stream)
        else:
            notes.append(f"{stream.type} stream {stream.index} ({name}) not copied: {output.format.name} cannot "
                         "hold it")
    return copyable


def _add_video_stream(output, stream, width: int, height: int, crf: int, rotation: int):
    from av.video.reformatter import ColorRange, Colorspace

    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    encoder = output.add_stream("libx264", rate=rate)
    encoder.width, encoder.height = width, height
    even = width % 2 == 0 and height % 2 == 0
    encoder.pix_fmt = "yuv420p" if even else "yuv444p"  # 4:2:0 needs even sizes
    encoder.time_base = stream.time_base
    encoder.codec_context.time_base = stream.time_base
    encoder.codec_context.colorspace = Colorspace.ITU601  # BT.601 (FFmpeg's BT.470 BG), as cv2's BGR -> I420
    encoder.codec_context.color_range = ColorRange.MPEG  # TV range
    encoder.options = {"crf": str(crf), "preset": ENCODER_PRESET}
    if rotation:
        encoder.set_display_rotation(rotation)
    return encoder


def _yuv_frame(av, gray: np.ndarray, ab: np.ndarray, pix_fmt: str):
    """The output frame for the encoder (BT.601, TV range): made straight in 4:2:0 (colour.recolour_i420, a
    quarter of the colour conversions) where the size allows, else recoloured in BGR and converted by FFmpeg."""
    from av.video.reformatter import ColorRange, Colorspace

    if pix_fmt == "yuv420p":
        frame = av.VideoFrame.from_ndarray(colour.recolour_i420(gray, ab), format="yuv420p")
    else:
        frame = av.VideoFrame.from_ndarray(colour.recolour(gray, ab), format="bgr24").reformat(
            format=pix_fmt, dst_colorspace=Colorspace.ITU601, dst_color_range=ColorRange.MPEG)
    frame.colorspace, frame.color_range = Colorspace.ITU601, ColorRange.MPEG
    return frame


def colorize_video(colorizer, source: str | Path, target: str | Path, *, force: bool = False,
                   crf: int = DEFAULT_CRF, temporal_smoothing: float | None = None,
                   network_interval: int | None = None,
                   progress: Callable[[int, int | None], None] | None = None,
                   max_pixels: int | None = None, reference=None, reference_strength: float = 1.0) -> VideoResult:
    """Colourise a video file into target (.mp4, .mov or .mkv: the muxer): H.264 at crf, the colour smoothed
    over time (temporal_smoothing: the weight of the past, default DEFAULT_TEMPORAL_SMOOTHING, 0 off), the
    network on every network_interval-th frame (default DEFAULT_NETWORK_INTERVAL), audio and subtitle streams
    copied. progress(frames done, frames in the file or None) is called after each frame. A film whose frames
    have more than max_pixels pixels (None: files.DEFAULT_MAX_PIXELS) is refused before a frame is decoded.
    reference: a colour photo (a path, a BGR array or Colorizer.reference's result) whose colours guide every
    frame, carried over at reference_strength (as Colorizer.colorize); needs the guided model.

    The rules of colorize-run: the input is never overwritten, even with force; an existing target raises
    files.OutputExistsError unless force; the video is written to a temporary file beside target and renamed when
    complete, so an error or Ctrl-C leaves nothing behind. Raises VideoFileError (a ColorizeError) with the
    reason; streams that could not be copied are listed in the result's notes."""
    from colorize_runtime import files

    source, target = inputs.file_path(source, "source"), inputs.file_path(target, "target")
    options.check_whole("crf", crf, 0, 51)
    if max_pixels is not None:
        options.check_whole("max_pixels", max_pixels)
    av = _import_av()
    muxer = OUTPUT_FORMATS.get(target.suffix.lower())
    if muxer is None:
        what = f"{target.suffix} videos" if target.suffix else "a video without an extension"
        raise VideoFileError(f"cannot write {what} (use {', '.join(OUTPUT_FORMATS)})")
    files.check_target(source, target, force)
    smoothing_strength(temporal_smoothing)  # checked before the file is opened
    checked_interval(network_interval)  # likewise
    if reference is not None:
        guided.check_reference_strength(reference_strength)
        reference = colorizer.reference(reference)  # read and checked once, before the file is opened
    container, stream = _open_input(av, source)
    _check_frame_size(container, stream, max_pixels or files.DEFAULT_MAX_PIXELS)
    with files.replacing(target) as temporary, container:
        result = _transcode(av, colorizer, container, stream, temporary, muxer, crf, temporal_smoothing,
                            network_interval, progress, reference, reference_strength)
    result.target = target
    return result


def _transcode(av, colorizer, container, stream, temporary: Path, muxer: str, crf: int,
               temporal_smoothing: float | None, interval: int | None, progress, reference=None,
               reference_strength: float = 1.0) -> VideoResult:
    started = time.perf_counter()
    notes: list[str] = []
    stop = threading.Event()
    decoded, coloured = _Pipe(stop), _Pipe(stop)
    first = {}  # the first frame, decoded before the output is set up (it gives the rotation)
    total = stream.frames or None
    cut_short: list[str] = []  # why the reading stopped at a damaged packet

    def frames():
        """Decoded frames in order, with the other streams' packets between them as they come in the file."""
        try:
            for packet in container.demux(stream, *copyable):
                if packet.is_corrupt:  # the demuxer's flag for a packet cut short: nothing after it is read
                    seconds = float((packet.pts or 0) * (packet.time_base or 0))
                    cut_short.append(f"its {packet.stream.type} packet at {seconds:.2f} s is cut short or corrupt")
                    return
                if packet.stream is stream:
                    yield from packet.decode()
                elif packet.dts is not None:
                    yield packet
        except av.FFmpegError as error:
            raise VideoFileError(f"truncated or damaged video ({_reason(error)})") from None

    try:
        output = av.open(str(temporary), "w", format=muxer)
    except (av.FFmpegError, OSError) as error:
        raise VideoFileError(f"cannot write {temporary.parent}: {_reason(error)}") from None
    with output:
        copyable = _copyable_streams(output, container, notes)
        items = frames()
        for item in items:
            if isinstance(item, av.VideoFrame):
                first["frame"] = item
                break
            first.setdefault("packets", []).append(item)
        if "frame" not in first:
            raise VideoFileError("no video frame could be decoded (truncated or damaged)")
        frame = first["frame"]
        rotation = round(frame.rotation or 0)
        film = FrameColorizer(colorizer, temporal_smoothing, rotation, interval=interval, reference=reference,
                              reference_strength=reference_strength)
        encoder = _add_video_stream(output, stream, frame.width, frame.height, crf, rotation)
        copies = {copied.index: output.add_stream_from_template(copied) for copied in copyable}

        def decode() -> None:
            for packet in first.get("packets", []):
                decoded.put(packet)
            decoded.put((_luma(frame), frame.pts, frame.time))
            for item in items:
                decoded.put((_luma(item), item.pts, item.time) if isinstance(item, av.VideoFrame) else item)
            decoded.put(_END)

        def colourise() -> None:
            while (item := decoded.get()) is not _END:
                if isinstance(item, tuple):
                    gray, pts, seconds = item
                    item = (gray, film.colour(gray), pts, seconds)
                coloured.put(item)
            coloured.put(_END)

        threads = [_worker(decode, decoded), _worker(colourise, coloured)]
        count, next_pts, reach = 0, 0, _Reach()
        frame_step = max(1, round(1 / (encoder.average_rate * stream.time_base)))  # for frames without a pts
        try:
            while (item := coloured.get()) is not _END:
                if isinstance(item, _Failure):
                    raise item.error
                if isinstance(item, tuple):
                    gray, ab, pts, seconds = item
                    out_frame = _yuv_frame(av, gray, ab, encoder.pix_fmt)
                    out_frame.pts = pts if pts is not None else next_pts
                    out_frame.time_base = stream.time_base
                    next_pts = out_frame.pts + frame_step
                    for packet in encoder.encode(out_frame):
                        output.mux(packet)
                    count += 1
                    reach.frame(seconds)
                    if progress:
                        progress(count, total)
                else:
                    reach.packet(item)
                    item.stream = copies[item.stream.index]
                    output.mux(item)
            for packet in encoder.encode():
                output.mux(packet)
        except av.FFmpegError as error:
            raise VideoFileError(f"cannot encode the video ({_reason(error)})") from None
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    _check_complete(stream, count, reach, all(audio in copyable for audio in container.streams.audio),
                    container, cut_short)
    return VideoResult(Path(), count, frame.width, frame.height, time.perf_counter() - started, film.cuts, notes)


def _check_frame_size(container, stream, max_pixels: int) -> None:
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > max_pixels:
        container.close()
        raise VideoFileError(f"{width}x{height} = {width * height:,} pixels a frame, over the max-pixels limit of "
                             f"{max_pixels:,}")


class _Reach:
    """How far the decoding got: the last video frame's time, and where the other streams' packets end."""

    def __init__(self) -> None:
        self.last_frame: float | None = None
        self.others_end = 0.0

    def frame(self, seconds: float | None) -> None:
        if seconds is not None:
            self.last_frame = seconds if self.last_frame is None else max(self.last_frame, seconds)

    def packet(self, packet) -> None:
        if packet.pts is not None and packet.time_base:
            self.others_end = max(self.others_end, float((packet.pts + (packet.duration or 0)) * packet.time_base))


def _tag_seconds(text: str | None) -> float | None:
    """A Matroska DURATION tag (HH:MM:SS.nnnnnnnnn) in seconds, or None."""
    try:
        hours, minutes, seconds = (text or "").split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _check_complete(stream, count: int, reach: _Reach, others_read: bool, container, cut_short: list[str]) -> None:
    """A file cut short often decodes without an error until it ends: compare what was decoded with what the
    stream itself announces. Its frame count where the container stores one (MP4, MOV): every frame must come.
    Then no packet may have been read short (cut_short: the demuxer flagged one corrupt; a fragmented MP4, which
    announces neither its frames nor its whole duration, shows a cut only so). Else its own duration (Matroska's
    per-track DURATION tag), or the file's (the header's), which may include longer audio: then the end of every
    stream's packets is compared, within a frame and a half."""
    if stream.frames and count < stream.frames:
        raise VideoFileError(f"truncated video: {count} of {stream.frames} frames could be decoded")
    if cut_short:
        raise VideoFileError(f"truncated or damaged video: {cut_short[0]}")
    if stream.frames:
        return
    if reach.last_frame is None:
        return
    rate = stream.average_rate or stream.guessed_rate
    step = float(1 / rate) if rate else 0.0
    reached = reach.last_frame + step
    expected = _tag_seconds(stream.metadata.get("DURATION"))
    slack = 1.5 * step + 0.01
    if expected is None:
        if stream.duration and stream.time_base:
            expected = float((stream.duration + (stream.start_time or 0)) * stream.time_base)
        elif container.duration:
            expected = (container.duration + (container.start_time or 0)) / 1e6
        else:
            return
        reached = max(reached, reach.others_end) if others_read else reached
        slack += 0 if others_read else 0.5  # an unread audio stream may run on after the picture
    if reached < expected - slack:
        raise VideoFileError(f"truncated video: it ends at {reached:.2f} s of {expected:.2f} s")


def colorize_for_command_line(colorizer, source: Path, target: Path, args, note: Callable[[str], None],
                              reference=None) -> tuple:
    """colorize_video with colorize-run's options (--force, --crf, --temporal-smoothing, --network-interval), a
    progress bar in
    frames on a terminal (tqdm: rate and time left), notes for the streams not copied and, with -v, the frame
    rate. Returns the frame size (width, height)."""
    import sys

    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(file=sys.stderr, unit="frame", leave=False, desc=source.name)

    def progress(done: int, total: int | None) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(1)

    try:  # "bar is not None": a tqdm without a total has no truth value
        result = colorize_video(colorizer, source, target, force=args.force, crf=args.crf,
                                temporal_smoothing=args.temporal_smoothing, network_interval=args.network_interval,
                                progress=progress if bar is not None else None,
                                max_pixels=args.max_pixels, reference=reference,
                                reference_strength=args.reference_strength)
    finally:
        if bar is not None:
            bar.close()
    for message in result.notes:
        note(message)
    if args.verbose:
        note(f"{result.frames} frames, {result.fps:.1f} frames per second, {result.cuts} scene cuts")
    return result.width, result.height
