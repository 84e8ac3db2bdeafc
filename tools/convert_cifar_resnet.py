#!/usr/bin/env python
"""Convert a published CIFAR ResNet checkpoint (akamaster/pytorch_resnet_cifar10's ``.th``:
``{"state_dict": {"module.<key>": tensor}, "best_prec1": ...}``) to the safetensors file the
package ships, checked strictly against the architecture on the way.

    python tools/convert_cifar_resnet.py ../shared/real/cifar-resnets/resnet20-12fca82f.th \\
        lava_vision/assets/cifar_resnet20.safetensors --name cifar_resnet20

The source file's name and SHA-256 go into the safetensors metadata (provenance)."""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import _common  # noqa: F401  (puts the checkout on sys.path)


def main() -> None:
    p = argparse.ArgumentParser(prog="tools/convert_cifar_resnet.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="published .th checkpoint")
    p.add_argument("out", help="output .safetensors")
    p.add_argument("--name", default="cifar_resnet20", help="architecture (cifar_resnet20/32/44/56)")
    args = p.parse_args()
    from safetensors.torch import save_file

    from lava_vision.tasks.classification.cifar_resnet import load_cifar_resnet

    model = load_cifar_resnet(args.name, args.source)  # strict: raises naming any key that does not fit
    digest = hashlib.sha256(Path(args.source).read_bytes()).hexdigest()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, args.out, metadata={"arch": args.name, "source": Path(args.source).name,
                                         "source_sha256": digest,
                                         "origin": "github.com/akamaster/pytorch_resnet_cifar10 (BSD-2-Clause)"})
    print(f"wrote {args.out} ({len(state)} tensors) from {args.source} (sha256 {digest})")


if __name__ == "__main__":
    _common.run_tool(main)
