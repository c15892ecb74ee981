#!/usr/bin/env python3
"""Sends one order to the kitchen over gRPC, from Python, through the generated stubs.

A small client of the order contract for other languages' services and scripts: it builds an
OrderRequest, calls OrderService.SendOrder with a deadline, and prints the kitchen's answer as
JSON. On a refusal it prints the gRPC status and exits 2 (INVALID_ARGUMENT and other rejections)
or 3 (UNAVAILABLE, DEADLINE_EXCEEDED: worth retrying).

PYTHONPATH must hold the stubs: `tools/dev/python-stubs` (Cargo users) prints it, Bazel builds
them as //order_management_service/proto:order_service_py.

Example:
  send_order.py --target localhost:50051 --order-id py-1 --brand Desayuna \\
      --item "Breakfast Burrito,Grill Station,2" --item "Cold Brew,Drinks,1"
"""

import argparse
import datetime
import json
import sys

import grpc

import order_service_pb2
import order_service_pb2_grpc

TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}


def parse_item(text):
    try:
        name, station, quantity = text.rsplit(",", 2)
        return order_service_pb2.OrderItem(item_name=name, station_name=station, quantity=int(quantity))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"an item is NAME,STATION,QUANTITY: {text!r} ({error})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="localhost:50051", help="the kitchen's gRPC address")
    parser.add_argument("--order-id", required=True)
    parser.add_argument("--otter-order-id", default="")
    parser.add_argument("--brand", default="")
    parser.add_argument("--item", type=parse_item, action="append", default=[], help="NAME,STATION,QUANTITY")
    parser.add_argument("--timeout", type=float, default=5.0, help="deadline of the call, in seconds")
    args = parser.parse_args(argv)

    request = order_service_pb2.OrderRequest(
        order_id=args.order_id,
        otter_order_id=args.otter_order_id or f"otter-{args.order_id}",
        brand_name=args.brand,
        order_items=args.item,
        timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        source="python_client",
    )
    with grpc.insecure_channel(args.target) as channel:
        stub = order_service_pb2_grpc.OrderServiceStub(channel)
        try:
            response = stub.SendOrder(request, timeout=args.timeout)
        except grpc.RpcError as error:
            print(json.dumps({"code": error.code().name, "details": error.details()}))
            return 3 if error.code() in TRANSIENT else 2
    print(json.dumps({
        "success": response.success,
        "message": response.message,
        "order_id": response.order_id,
        "processed_at": response.processed_at,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
