"""PyTorch peer for `pnpm bench torch` (bench/suites/torch.ts drives it through bench/peers/torch.ts).

Protocol: JSON lines. On start the script writes one line, {"ready": true, ...versions} or
{"ready": false, "reason": ...} (then exits 0: a missing torch is a skipped peer, not an error).
Then, per request line, one reply line:
  {"cmd": "build", "name": N, "kind": "lm" | "switch" | "matmul", "config": {...}, ...}
      builds case N, runs it once untimed (first calls allocate and pick kernels) and replies
      {"loss": first loss, or null for matmul}
  {"cmd": "run", "name": N, "calls": k}  -> {"ms": [k wall times of one call each]}
A failed request replies {"error": message} and the peer keeps serving.

The models are the same as switch-ts's, with the same shapes, so the timing compares the same
FLOPs: the demo's language model (examples/demo/model.ts: token + position embeddings, pre-norm
blocks of causal attention and FFN, RMSNorm, no biases; the FFN of every other block a Switch
layer) trained as examples/demo/train.ts trains it (cross-entropy + the switch layers' aux
losses, backward, clip_grad_norm 1, Adam); the Switch layer step of bench/suites/switch.ts (MSE to
a fixed target + aux loss, Adam); a float32 square matmul. Routing is the same algorithm as
@switch-ts/switch: top-1 by argmax, per group the tokens take their expert's next free slot in
sequence order up to the capacity, experts compute every slot (empty ones included: static
shapes), dropped tokens output 0. Values differ (other initial weights, other float summation
order): the suite only checks that the first losses agree in magnitude.
"""
import json
import math
import os
import sys
import time

# One thread everywhere, set before torch loads: torch.set_num_threads covers its OpenMP pool,
# the variables cover OpenBLAS's own pthreads pool, which torch does not size.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    import torch
    import torch.nn.functional as F
except Exception as e:  # ImportError, or a torch that fails to load its libraries
    reply({"ready": False, "reason": f"{type(e).__name__}: {e}"})
    sys.exit(0)

torch.set_num_threads(1)
torch.set_num_interop_threads(1)
# Subnormal floats cost ~100 cycles each on x86 (a sqrt over 1M of them: 3.5 ms against 0.2 ms);
# Adam's second moments of rarely routed experts get there. V8 computes float32 data in doubles,
# where those values are normal, so switch-ts never pays this: flushing them is the fair setting.
torch.set_flush_denormal(True)
torch.set_default_dtype(torch.float32)


def blas_info():
    """What the build says (BLAS_INFO) and which BLAS library the process actually maps.

    Debian builds torch against the generic libblas.so.3 (BLAS_INFO=generic), which the
    alternatives system points at OpenBLAS when libopenblas0-pthread is installed, or at the slow
    reference BLAS otherwise: only the mapped file tells them apart.
    """
    config = torch.__config__.show()
    build = next((part.split("=", 1)[1] for part in config.replace(",", "\n").split() if part.startswith("BLAS_INFO=")), "unknown")
    a = torch.ones(64, 64)
    _ = a @ a  # loads the BLAS library if it is loaded lazily
    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line})
    return {"build": build, "libraries": libs}


def trunc_normal(shape, scale, fan_in):
    """@switch-ts/tensor's init.truncatedNormal: σ = √(scale / fanIn), cut at ±2σ."""
    std = math.sqrt(scale / fan_in)
    return torch.nn.Parameter(torch.nn.init.trunc_normal_(torch.empty(shape), std=std, a=-2 * std, b=2 * std))


class RMSNorm(torch.nn.Module):
    """x / √(mean(x²) + ε) · w, ε = 1e-6 as in @switch-ts/tensor's RMSNorm (torch 1.13 has none)."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps) * self.weight


class SwitchFFN(torch.nn.Module):
    """Top-1 Switch layer (router W_r [d, E], experts wi [E, d, f], wo [E, f, d], ReLU, no biases).

    Input [G, S, d]. The aux loss is α·balance + z_coef·z-loss, as @switch-ts/switch computes it:
    balance = E · Σ_i f_i·P_i per group (f_i: fraction of the group's tokens choosing expert i
    before capacity, P_i: mean router probability), averaged over groups; z = mean(logsumexp²).
    """

    def __init__(self, d, f, experts, capacity, balance_coef, z_coef, init_scale=0.1):
        super().__init__()
        self.router = trunc_normal((d, experts), init_scale, d)
        self.wi = trunc_normal((experts, d, f), init_scale, d)
        self.wo = trunc_normal((experts, f, d), init_scale, f)
        # Slots per expert per group: computed by the caller with @switch-ts/switch's expertCapacity
        # (eq. 3), so that both sides keep and drop the same number of tokens.
        self.experts, self.capacity = experts, capacity
        self.balance_coef, self.z_coef = balance_coef, z_coef

    def forward(self, x):
        G, S, d = x.shape
        E, C = self.experts, self.capacity
        logits = x @ self.router
        probs = logits.softmax(-1)
        gate, expert = probs.max(-1)  # argmax, ties to the lower index
        chosen = F.one_hot(expert, E)  # [G, S, E]
        # Each token's place in its expert's queue, in sequence order within its group.
        position = ((chosen.cumsum(1) - 1) * chosen).sum(-1)  # [G, S]
        kept = position < C
        # Slot of a kept token in the [E, G·C] expert buffers; dropped tokens go to a spare row E·G·C.
        group = torch.arange(G).unsqueeze(1)
        slot = torch.where(kept, (expert * G + group) * C + position, torch.full_like(position, E * G * C)).reshape(-1)
        tokens = x.reshape(G * S, d)
        buffers = torch.zeros(E * G * C + 1, d).index_add(0, slot, tokens)[:-1].reshape(E, G * C, d)
        out = torch.bmm(torch.relu(torch.bmm(buffers, self.wi)), self.wo).reshape(E * G * C, d)
        out = torch.cat([out, torch.zeros(1, d)])  # the spare row: a dropped token's output is 0
        y = (out[slot] * gate.reshape(-1, 1)).reshape(G, S, d)

        fraction = chosen.float().mean(1)  # [G, E]
        balance = (E * (fraction * probs.mean(1)).sum(-1)).mean()
        z = torch.logsumexp(logits, -1).square().mean()
        return y, self.balance_coef * balance + self.z_coef * z


class DenseFFN(torch.nn.Module):
    def __init__(self, d, f, init_scale=0.1):
        super().__init__()
        self.wi = trunc_normal((d, f), init_scale, d)
        self.wo = trunc_normal((f, d), init_scale, f)

    def forward(self, x):
        return torch.relu(x @ self.wi) @ self.wo


class Block(torch.nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + ffn(norm(x)); causal mask −1e9 added to the scores."""

    def __init__(self, c, use_switch):
        super().__init__()
        d = c["dModel"]
        self.heads = c["numHeads"]
        self.attention_norm, self.ffn_norm = RMSNorm(d), RMSNorm(d)
        self.query, self.key, self.value, self.out = (trunc_normal((d, d), 1, d) for _ in range(4))
        ffn = c["ffn"]
        self.switch = use_switch and ffn["kind"] == "switch"
        self.ffn = (
            SwitchFFN(d, c["dFF"], ffn["numExperts"], ffn["capacity"], ffn["balanceCoef"], ffn["zLossCoef"])
            if self.switch else DenseFFN(d, c["dFF"])
        )
        S = c["seqLen"]
        self.register_buffer("mask", torch.triu(torch.full((S, S), -1e9), diagonal=1))

    def attention(self, x):
        B, S, d = x.shape
        H = self.heads

        def heads(t):
            return t.reshape(B, S, H, d // H).transpose(1, 2)

        q, k, v = heads(x @ self.query), heads(x @ self.key), heads(x @ self.value)
        scores = q @ k.transpose(-1, -2) * (1 / math.sqrt(d // H)) + self.mask[:S, :S]
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, S, d) @ self.out

    def forward(self, x):
        h = x + self.attention(self.attention_norm(x))
        normed = self.ffn_norm(h)
        if self.switch:
            # The demo routes the whole batch as one group: [1, B·S, d].
            y, aux = self.ffn(normed.reshape(1, -1, normed.shape[-1]))
            return h + y.reshape(h.shape), aux
        return h + self.ffn(normed), None


class LanguageModel(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["dModel"]
        self.token_embedding = trunc_normal((c["vocabSize"], d), 1, 1)
        self.position_embedding = trunc_normal((c["seqLen"], d), 0.1, 1)
        self.blocks = torch.nn.ModuleList(Block(c, i % 2 == 1) for i in range(c["numLayers"]))
        self.final_norm = RMSNorm(d)
        self.head = trunc_normal((d, c["vocabSize"]), 1, d)

    def forward(self, tokens):
        B, S = tokens.shape
        x = self.token_embedding[tokens] + self.position_embedding[:S]
        aux = None
        for block in self.blocks:
            x, block_aux = block(x)
            if block_aux is not None:
                aux = block_aux if aux is None else aux + block_aux
        return (self.final_norm(x) @ self.head).reshape(B * S, -1), aux


def lm_case(req):
    """The demo's step (examples/demo/train.ts): CE + aux, backward, clip at 1, Adam; on the batch switch-ts trains on."""
    c = req["config"]
    torch.manual_seed(c.get("seed", 0))
    model = LanguageModel(c)
    optimizer = torch.optim.Adam(model.parameters(), lr=c["lr"], betas=(0.9, 0.999), eps=1e-8)
    B, S = c["batchSize"], c["seqLen"]
    inputs = torch.tensor(req["inputs"], dtype=torch.long).reshape(B, S)
    targets = torch.tensor(req["targets"], dtype=torch.long)

    def step():
        optimizer.zero_grad()
        logits, aux = model(inputs)
        ce = F.cross_entropy(logits, targets)
        loss = ce + aux if aux is not None else ce
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return ce.item()

    return step


def switch_case(req):
    """bench/suites/switch.ts's train step: MSE to a fixed target + the layer's aux loss, Adam."""
    c = req["config"]
    torch.manual_seed(c.get("seed", 0))
    layer = SwitchFFN(c["dModel"], c["dFF"], c["numExperts"], c["capacity"], c["balanceCoef"], c["zLossCoef"])
    optimizer = torch.optim.Adam(layer.parameters(), lr=c["lr"], betas=(0.9, 0.999), eps=1e-8)
    shape = (c["groups"], c["groupSize"], c["dModel"])
    x, target = torch.randn(shape), torch.randn(shape)

    def step():
        optimizer.zero_grad()
        y, aux = layer(x)
        loss = (y - target).square().mean() + aux
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def switch_forward_case(req):
    """bench/suites/switch.ts's E-scaling forward: the layer alone, no gradients."""
    c = req["config"]
    torch.manual_seed(c.get("seed", 0))
    layer = SwitchFFN(c["dModel"], c["dFF"], c["numExperts"], c["capacity"], c["balanceCoef"], c["zLossCoef"])
    x = torch.randn((c["groups"], c["groupSize"], c["dModel"]))

    def call():
        with torch.no_grad():
            layer(x)
        return None

    return call


def matmul_case(req):
    n = req["config"]["n"]
    a, b = torch.randn(n, n), torch.randn(n, n)

    def call():
        torch.mm(a, b)
        return None

    return call


builders = {"lm": lm_case, "switch": switch_case, "switchForward": switch_forward_case, "matmul": matmul_case}
cases = {}


def handle(req):
    if req["cmd"] == "build":
        call = builders[req["kind"]](req)
        cases[req["name"]] = call
        return {"loss": call()}
    if req["cmd"] == "run":
        call = cases[req["name"]]
        times = []
        for _ in range(req["calls"]):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1000)
        return {"ms": times}
    raise ValueError(f"unknown cmd {req['cmd']!r}")


reply({
    "ready": True,
    "torch": torch.__version__,
    "python": sys.version.split()[0],
    "threads": torch.get_num_threads(),
    "blas": blas_info(),
})
for line in sys.stdin:
    if not line.strip():
        continue
    try:
        reply(handle(json.loads(line)))
    except Exception as e:
        reply({"error": f"{type(e).__name__}: {e}"})
