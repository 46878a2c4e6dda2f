"""The fixed paragraphs of reports/benchmarks.md: what each section measures and how. Sentences that depend on a
run's numbers are written by ``report.py``; these do not."""

TRAIN = ("A step is forward, loss, `zero_grad`, backward and optimiser step, in training mode (dropout on), at the "
         "recipe batch size; {reps} interleaved repetitions after warm-up, each of several steps. Images per second: "
         "median (min-max). Ratio = scratchnet / torch (above 1: scratchnet is faster). *Alone*: each implementation "
         "again in a fresh process of its own (torch without Numba threads and with glibc's default malloc; "
         "scratchnet without torch), a check that sharing one process slows neither side; the targets are judged "
         "on both ratios.")

OLD_BLAS = ("Before this work, scratchnet's Linear layers ran on NumPy's OpenBLAS, whose worker threads spin after "
            "each call; in that run they also slowed the torch side of the shared process (compare its *torch* and "
            "*torch alone* throughput), which flatters the old FFN ratio.")

TWO_RATIOS = ("Where the two ratios differ, the side-by-side one is the disturbed measurement: in one process each "
              "library's worker threads stay awake for a while after its own call and compete with the other's for "
              "the cores (our reading of the gap, not measured separately); the own-process ratio is each library "
              "as a user runs it.")

BASELINE = ("*Before* columns: an earlier run of this benchmark on the code before the kernel work (commit `{commit}`, "
            "{date}, `{command}`; other processes used {others} cores), passed in with `--baseline`; its rows are in "
            "`benchmarks.csv` with `run = baseline`.")

OPS = ("The peak uses the nominal clock; under boost a core can run faster, so a fraction near or above 100% means "
       "the clock was above nominal, not that the estimate was beaten. GFLOP/s = 2 x multiply-adds / median time. "
       "Grad-weight includes the bias gradient on both sides. Speed-up = torch time / scratchnet time.")

JIT = ("Each model in a new Python process: import scratchnet, build the model, run two train steps. *Empty cache*: "
       "`NUMBA_CACHE_DIR` points at a new temporary directory, so every kernel is compiled; *warm cache*: a second "
       "process with the same directory loads the compiled kernels. *To first step done* counts from the first import "
       "to the end of the first step; *process wall* adds interpreter start-up and exit.")

MEMORY = ("Each run imports its library, loads the MNIST training set with `scratchnet.data.load_mnist` + `normalize` "
          "({images}) and trains one epoch at the recipe batch size. *Peak (getrusage)* is `ru_maxrss` of the whole "
          "process, so it includes loading the data; *epoch peak* is the peak resident size during the epoch alone "
          "(the kernel's peak mark is reset, via /proc/self/clear_refs, once the data are loaded); *resident with "
          "data* is the resident size just before training, so *epoch peak - resident with data* is what training "
          "itself added.")

SCRATCHNET_SIDE = """## What the scratchnet side runs

- **Convolution, stride 1** (every conv of the three models): a direct, im2col-free kernel on *flat rows*: each padded image plane is one contiguous vector, so a 3x3 tap is one long loop over all output rows (the 2 columns per row that run past the edge are computed and dropped). Register blocks of 4 output channels x 3 taps: one input load feeds 4 FMAs, one accumulator load/store carries 3. The grad-input is the same kernel on `dout` (full convolution, mirrored taps); the grad-weight is blocks of 4x3 dot products per image, the images then added in order. Forward and grad-input add their terms in the order of the plain loops, so they give the same bits as the original kernels.
- **Linear**: Numba kernels instead of NumPy's BLAS (whose spinning worker threads fought the Numba threads for the two cores): 4x4 register-blocked dot products forward; the backward products sum in order of k in blocks of 192, the order of torch's MKL, which they reproduce bit for bit for layers with 64 or more outputs.
- **No input gradient**: a training step calls `model.backward(..., input_grad=False)`: the first layer with parameters skips dL/dx, which nothing needs (torch skips it too for an input without `requires_grad`).
- **ReLU, dropout**: one-pass element-wise kernels (single thread: too short to be worth waking threads); **max-pool 2x2**: an unrolled kernel; the backward zeroes and scatters plane by plane.
- **Memory**: importing `scratchnet.kernels` raises glibc's mmap and trim thresholds so that the arrays freed at the end of one step are reused by the next instead of being unmapped and page-faulted in again (`SCRATCHNET_MALLOC=default` turns it off). It is process-wide, so the torch side of this benchmark runs with it too.
- Every kernel is deterministic: parallel loops run over batch items or independent output tiles and every sum has a fixed order, so results are bit-identical for any thread count.

## How it was measured

- Same process, same thread count, same initial weights (`compare.models.build_pair`), same batches; repetitions interleaved and their order flipped each time, so background load hits both sides; the header says how much CPU other processes used during each section.
- Raw numbers: [benchmarks.csv](benchmarks.csv) (one row per measurement).
"""
