"""`:protoc`: one executable file that runs Debian's /usr/bin/protoc."""

def _system_protoc_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(out, "#!/bin/sh\nexec /usr/bin/protoc \"$@\"\n", is_executable = True)
    return [DefaultInfo(files = depset([out]), executable = out)]

system_protoc = rule(
    implementation = _system_protoc_impl,
    executable = True,
)
