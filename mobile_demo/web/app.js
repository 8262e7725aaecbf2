// DefGAN in the browser: crop a photo, estimate its AUs, edit toward sliders/presets.
// The same pre/post-processing as mobile_demo/run_tflite.py: RGB float32 in [-1, 1],
// AUs in [0, 1] in the sidecar's `au_codes` order, inputs fed by signature name.
import {loadAndCompile, loadLiteRt, Tensor} from '@litertjs/core';

const params = new URLSearchParams(location.search);
const modelUrl = params.get('model') ?? 'model/defgan.tflite';
// Exposed for the headless test (tests/mobile_demo/test_web.py) and the console.
const state = window.defganDemo = {ready: false, edits: 0, errors: []};
const $ = (id) => document.getElementById(id);
const setStatus = (text) => { $('status').textContent = text; };

async function init() {
  await loadLiteRt(new URL('node_modules/@litertjs/core/wasm/', location.href).href);
  state.meta = await (await fetch(`${modelUrl}.json`)).json();
  state.model = await loadAndCompile(modelUrl, {
    accelerator: 'wasm',
    cpuOptions: {numThreads: self.crossOriginIsolated ? navigator.hardwareConcurrency : 1},
  });
  const size = state.meta.image_size;
  for (const id of ['input', 'deformed', 'mask', 'edited']) {
    Object.assign($(id), {width: size, height: size});
  }
  buildControls(state.meta);
  state.ready = true;
  setStatus(`model ready (${state.meta.quantization ?? 'fp32'}, ${size}×${size}); pick a photo`);
}

function buildControls(meta) {
  state.target = new Float32Array(meta.au_codes.length);
  meta.au_codes.forEach((code, i) => {
    const label = document.createElement('label');
    const slider = Object.assign(document.createElement('input'),
                                 {type: 'range', min: 0, max: 1, step: 0.05, value: 0, id: code});
    slider.addEventListener('input', () => { state.target[i] = Number(slider.value); edit(); });
    label.append(`${code} ${meta.au_names?.[i] ?? ''}`, slider);
    $('sliders').append(label);
  });
  for (const [name, values] of Object.entries(meta.presets)) {
    const button = Object.assign(document.createElement('button'), {textContent: name});
    button.dataset.preset = name;
    button.addEventListener('click', () => { setTarget(values); edit(); });
    $('presets').append(button);
  }
}

function setTarget(values) {
  state.target.set(values);
  state.meta.au_codes.forEach((code, i) => { $(code).value = values[i]; });
}

// Centre square of any drawable → the model's S×S crop (uint8 RGBA ImageData).
function cropFrom(source, width, height) {
  const side = Math.min(width, height);
  const context = $('input').getContext('2d');
  const size = state.meta.image_size;
  context.drawImage(source, (width - side) / 2, (height - side) / 2, side, side, 0, 0, size, size);
  return context.getImageData(0, 0, size, size);
}

function toModel(imageData) {
  const {data} = imageData;
  const out = new Float32Array((data.length / 4) * 3);
  for (let p = 0, q = 0; p < data.length; p += 4, q += 3) {
    for (let c = 0; c < 3; c++) out[q + c] = data[p + c] / 127.5 - 1;
  }
  return out;
}

function draw(id, values, channels) {
  const size = state.meta.image_size;
  const context = $(id).getContext('2d');
  const image = context.createImageData(size, size);
  for (let p = 0, q = 0; p < image.data.length; p += 4, q += channels) {
    for (let c = 0; c < 3; c++) {
      const v = channels === 1 ? values[q] * 255 : (values[q + c] + 1) * 127.5;
      image.data[p + c] = Math.min(255, Math.max(0, Math.round(v)));
    }
    image.data[p + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

async function run(signature, inputs) {
  const size = state.meta.image_size;
  const shapes = {image: [1, size, size, 3], source_aus: [1, 17], target_aus: [1, 17]};
  const tensors = Object.fromEntries(Object.entries(inputs).map(
    ([name, array]) => [name, new Tensor(array, shapes[name])]));
  const outputs = await state.model.run(signature, tensors);
  const arrays = Object.fromEntries(Object.entries(outputs).map(
    ([name, tensor]) => [name, tensor.toTypedArray().slice()]));
  Object.values(tensors).forEach((t) => t.delete());
  Object.values(outputs).forEach((t) => t.delete());
  return arrays;
}

async function useImage(source, width, height) {
  state.crop = cropFrom(source, width, height);
  state.image = toModel(state.crop);
  state.source = (await run('estimate_aus', {image: state.image})).aus;
  setTarget(state.source);
  await edit();
}

let pending = null;
async function edit() {
  if (!state.image) return;
  if (pending) { pending.again = true; return; }
  pending = {again: false};
  const start = performance.now();
  const out = await run('edit', {image: state.image, source_aus: state.source,
                                 target_aus: state.target});
  state.lastMs = performance.now() - start;
  draw('edited', out.edited, 3);
  draw('deformed', out.deformed, 3);
  draw('mask', out.mask, 1);
  state.last = {edited: out.edited, target: Array.from(state.target)};
  state.edits += 1;
  setStatus(`edited in ${state.lastMs.toFixed(1)} ms`);
  const again = pending.again;
  pending = null;
  if (again) await edit();
}

$('file').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const bitmap = await createImageBitmap(file);
  await useImage(bitmap, bitmap.width, bitmap.height);
});

$('camera').addEventListener('click', async () => {
  try {
    $('video').srcObject = await navigator.mediaDevices.getUserMedia({video: true});
    $('video').hidden = $('snap').hidden = false;
  } catch (error) {
    setStatus(`camera unavailable: ${error.message}`);
  }
});

$('snap').addEventListener('click', () => {
  const video = $('video');
  useImage(video, video.videoWidth, video.videoHeight);
});

init().catch((error) => {
  state.errors.push(String(error));
  setStatus(`could not load ${modelUrl}: ${error}`);
  console.error(error);
});
