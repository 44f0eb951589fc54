"""Offscreen rendering of a City with moderngl (headless EGL; Mesa llvmpipe on a CPU): textured
boxes and ground, a sky with a sun glow, a directional sun with shadow-mapped cast shadows and
ambient light, or an overcast sky with diffuse light only.

The projection is built from K with OpenCV's pixel convention (pixel centres at integer
coordinates, GL's at +0.5), so a world point seen by the renderer at pixel (u, v) projects to
(u, v) with `PinholeCamera.project` — tested to well under 0.5 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pose_reloc.camera import PinholeCamera
from pose_reloc.errors import PoseRelocError
from pose_reloc.geometry import Transform
from pose_reloc.synth import textures
from pose_reloc.synth.city import LAYOUT_SIZE, Box, City

NEAR_M, FAR_M = 0.1, 600.0
# Anisotropic filtering costs about 5x per frame on llvmpipe; trilinear mipmaps are enough here.
ANISOTROPY = 1.0
# GL camera axes (x right, y up, z backwards) from the optical frame (x right, y down, z forward).
GL_FROM_OPTICAL = np.diag([1.0, -1.0, -1.0, 1.0])


class RenderError(PoseRelocError):
    """The renderer cannot run here (no EGL/OpenGL 3.3) or was asked for something impossible."""


@dataclass(frozen=True)
class Lighting:
    sun_world: NDArray[np.float64]  # unit vector towards the sun, world frame
    overcast: bool = False
    sun_intensity: float = 1.05
    ambient: float = 0.42


@dataclass
class RenderOutput:
    rgb: NDArray[np.uint8]  # (H, W, 3)
    depth: NDArray[np.float32] | None = None  # metres along the optical axis, inf for sky
    points_world: NDArray[np.float32] | None = None  # (H, W, 3) world point seen at each pixel


def projection_from_K(
    camera: PinholeCamera, near: float = NEAR_M, far: float = FAR_M
) -> NDArray[np.float64]:
    """GL projection matrix equivalent to K for a width x height image (rows top to bottom after
    the vertical flip of the read-back)."""
    w, h = camera.width, camera.height
    P = np.zeros((4, 4))
    P[0, 0] = 2.0 * camera.fx / w
    P[0, 2] = 1.0 - 2.0 * (camera.cx + 0.5) / w
    P[1, 1] = 2.0 * camera.fy / h
    P[1, 2] = 2.0 * (camera.cy + 0.5) / h - 1.0
    P[2, 2] = -(far + near) / (far - near)
    P[2, 3] = -2.0 * far * near / (far - near)
    P[3, 2] = -1.0
    return P


def view_from_T_wc(T_wc: Transform) -> NDArray[np.float64]:
    """World -> GL camera matrix for a camera whose optical frame has pose T_wc."""
    return GL_FROM_OPTICAL @ T_wc.inverse().as_matrix()


def _box_faces(box: Box) -> list[tuple[NDArray[np.float64], NDArray[np.float64], float]]:
    """(4 corners counter-clockwise seen from outside, normal, perimeter offset) per face."""
    x0, y0, x1, y1, z0, z1 = box.x0, box.y0, box.x1, box.y1, box.z0, box.z1
    dx, dy = x1 - x0, y1 - y0
    return [
        (
            np.array([[x0, y0, z0], [x1, y0, z0], [x1, y0, z1], [x0, y0, z1]]),
            np.array([0, -1.0, 0]),
            0.0,
        ),
        (
            np.array([[x1, y0, z0], [x1, y1, z0], [x1, y1, z1], [x1, y0, z1]]),
            np.array([1.0, 0, 0]),
            dx,
        ),
        (
            np.array([[x1, y1, z0], [x0, y1, z0], [x0, y1, z1], [x1, y1, z1]]),
            np.array([0, 1.0, 0]),
            dx + dy,
        ),
        (
            np.array([[x0, y1, z0], [x0, y0, z0], [x0, y0, z1], [x0, y1, z1]]),
            np.array([-1.0, 0, 0]),
            2 * dx + dy,
        ),
        (
            np.array([[x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]]),
            np.array([0, 0, 1.0]),
            -1.0,
        ),
    ]


VERTEX_FLOATS = 12  # position 3, normal 3, layout uv 2, detail uv 2, layout layer 1, detail layer 1


def city_vertices(city: City) -> NDArray[np.float32]:
    """One triangle list for every box face and the ground (layout layer -1 = ground texture)."""
    rows: list[list[float]] = []
    detail_index = {name: i for i, name in enumerate(textures.DETAIL_MATERIALS)}
    tile = textures.DETAIL_TILE_M
    for box in city.boxes:
        perimeter = 2 * ((box.x1 - box.x0) + (box.y1 - box.y0))
        height = box.z1 - box.z0
        for corners, normal, offset in _box_faces(box):
            is_top = offset < 0
            layer = box.roof_layer if (is_top and box.roof_layer >= 0) else box.layout_layer
            detail = detail_index["roof" if (is_top and box.kind == "building") else box.detail]
            face_length = np.linalg.norm(corners[1] - corners[0])
            for k in (0, 1, 2, 0, 2, 3):
                p = corners[k]
                if is_top:
                    lu, lv = (
                        (p[0] - box.x0) / max(box.x1 - box.x0, 1e-6),
                        (p[1] - box.y0) / max(box.y1 - box.y0, 1e-6),
                    )
                    du, dv = p[0] / tile, p[1] / tile
                else:
                    along = offset + (face_length if k in (1, 2) else 0.0)
                    lu, lv = along / perimeter, (box.z1 - p[2]) / height
                    du, dv = along / tile, -p[2] / tile
                rows.append([*p, *normal, lu, lv, du, dv, float(layer), float(detail)])
    gx0, gy0, gx1, gy1 = city.ground_extent
    far = 1000.0
    ground = np.array([[-far, -far, 0], [far, -far, 0], [far, far, 0], [-far, far, 0]])
    for k in (0, 1, 2, 0, 2, 3):
        p = ground[k]
        lu, lv = (p[0] - gx0) / (gx1 - gx0), (gy1 - p[1]) / (gy1 - gy0)
        rows.append(
            [*p, 0, 0, 1.0, lu, lv, p[0] / tile, p[1] / tile, -1.0, float(detail_index["asphalt"])]
        )
    return np.asarray(rows, dtype=np.float32)


SCENE_VERTEX_SHADER = """
#version 330
uniform mat4 u_view_proj;
uniform mat4 u_light_view_proj;
in vec3 in_position; in vec3 in_normal; in vec2 in_layout_uv; in vec2 in_detail_uv;
in float in_layer; in float in_detail;
out vec3 v_world; out vec3 v_normal; out vec2 v_layout_uv; out vec2 v_detail_uv;
out float v_layer; out float v_detail; out vec4 v_light_clip;
void main() {
    v_world = in_position; v_normal = in_normal; v_layout_uv = in_layout_uv; v_detail_uv = in_detail_uv;
    v_layer = in_layer; v_detail = in_detail;
    v_light_clip = u_light_view_proj * vec4(in_position, 1.0);
    gl_Position = u_view_proj * vec4(in_position, 1.0);
}
"""

SCENE_FRAGMENT_SHADER = """
#version 330
uniform sampler2DArray u_layout; uniform sampler2DArray u_detail; uniform sampler2D u_ground;
uniform sampler2DShadow u_shadow_map;
uniform vec3 u_sun; uniform float u_sun_intensity; uniform float u_ambient;
uniform int u_overcast; uniform int u_shadows; uniform vec4 u_ground_extent; uniform vec3 u_camera;
uniform vec2 u_shadow_texel;
in vec3 v_world; in vec3 v_normal; in vec2 v_layout_uv; in vec2 v_detail_uv;
in float v_layer; in float v_detail; in vec4 v_light_clip;
layout(location = 0) out vec4 out_colour;
layout(location = 1) out vec4 out_world;

vec3 srgb_to_linear(vec3 c) { return pow(c, vec3(2.2)); }
vec3 linear_to_srgb(vec3 c) { return pow(clamp(c, 0.0, 1.0), vec3(1.0 / 2.2)); }

float sun_visibility(vec3 n) {
    if (u_shadows == 0) return 1.0;
    vec3 p = v_light_clip.xyz / v_light_clip.w * 0.5 + 0.5;
    if (p.x < 0.0 || p.x > 1.0 || p.y < 0.0 || p.y > 1.0 || p.z > 1.0) return 1.0;
    float bias = 0.0015 * (1.0 - max(dot(n, u_sun), 0.0)) + 0.0004;
    float lit = 0.0;
    for (int i = -1; i <= 1; i++)
        for (int j = -1; j <= 1; j++)
            lit += texture(u_shadow_map, vec3(p.xy + vec2(i, j) * u_shadow_texel, p.z - bias));
    return lit / 9.0;
}

void main() {
    vec3 albedo;
    if (v_layer < 0.0) {
        vec2 uv = v_layout_uv;
        albedo = (uv.x < 0.0 || uv.x > 1.0 || uv.y < 0.0 || uv.y > 1.0)
            ? vec3(0.27, 0.41, 0.22) : texture(u_ground, uv).rgb;
    } else {
        albedo = texture(u_layout, vec3(v_layout_uv, v_layer)).rgb;
    }
    albedo = srgb_to_linear(albedo * 2.0 * texture(u_detail, vec3(v_detail_uv, v_detail)).rgb);
    vec3 n = normalize(v_normal);
    vec3 light;
    if (u_overcast == 1) {
        light = vec3(u_ambient * 1.9) * (0.65 + 0.35 * (0.5 + 0.5 * n.z));
    } else {
        float elevation = max(u_sun.z, 0.0);
        vec3 sun_colour = mix(vec3(1.0, 0.72, 0.5), vec3(1.0, 0.97, 0.92), clamp(elevation * 2.5, 0.0, 1.0));
        vec3 sky_colour = vec3(0.78, 0.86, 1.0);
        float direct = max(dot(n, u_sun), 0.0) * sun_visibility(n);
        light = u_sun_intensity * 2.2 * sun_colour * direct
              + u_ambient * sky_colour * (0.7 + 0.3 * (0.5 + 0.5 * n.z));
    }
    out_colour = vec4(linear_to_srgb(albedo * light), 1.0);
    out_world = vec4(v_world, 1.0);
}
"""

SHADOW_VERTEX_SHADER = """
#version 330
uniform mat4 u_light_view_proj;
in vec3 in_position;
void main() { gl_Position = u_light_view_proj * vec4(in_position, 1.0); }
"""

SHADOW_FRAGMENT_SHADER = """
#version 330
void main() { }
"""

SKY_VERTEX_SHADER = """
#version 330
out vec2 v_ndc;
void main() {
    vec2 corners[3] = vec2[3](vec2(-1.0, -1.0), vec2(3.0, -1.0), vec2(-1.0, 3.0));
    v_ndc = corners[gl_VertexID];
    gl_Position = vec4(v_ndc, 1.0, 1.0);
}
"""

SKY_FRAGMENT_SHADER = """
#version 330
uniform mat4 u_inverse_view_proj; uniform vec3 u_sun; uniform int u_overcast;
in vec2 v_ndc;
layout(location = 0) out vec4 out_colour;
layout(location = 1) out vec4 out_world;
void main() {
    vec4 far_point = u_inverse_view_proj * vec4(v_ndc, 1.0, 1.0);
    vec4 near_point = u_inverse_view_proj * vec4(v_ndc, -1.0, 1.0);
    vec3 ray = normalize(far_point.xyz / far_point.w - near_point.xyz / near_point.w);
    float up = clamp(ray.z, 0.0, 1.0);
    vec3 colour;
    if (u_overcast == 1) {
        colour = mix(vec3(0.80, 0.81, 0.83), vec3(0.68, 0.70, 0.73), up);
    } else {
        colour = mix(vec3(0.80, 0.87, 0.95), vec3(0.30, 0.50, 0.85), pow(up, 0.6));
        float c = max(dot(ray, u_sun), 0.0);
        colour += vec3(1.0, 0.9, 0.7) * (0.45 * pow(c, 12.0) + 0.25 * pow(c, 3.0));
        colour = mix(colour, vec3(1.0), smoothstep(0.9995, 0.9998, c));
    }
    out_colour = vec4(clamp(colour, 0.0, 1.0), 1.0);
    out_world = vec4(0.0);
}
"""


def _set_value(program: Any, name: str, value: Any) -> None:
    program[name].value = value


def _set_matrix(program: Any, name: str, matrix: NDArray[np.floating]) -> None:
    program[name].write(matrix.T.astype("f4").tobytes())  # GLSL matrices are column-major


class CityRenderer:
    """Renders one City for one camera. Create once; `set_lighting` then `render` per frame (the
    shadow map is redrawn only when the sun moves)."""

    def __init__(self, city: City, camera: PinholeCamera, shadow_map_size: int = 2048):
        import moderngl

        if camera.is_distorted:
            raise RenderError(
                "the renderer draws pinhole images: give it a camera without distortion"
            )
        try:
            # moderngl's stub types `backend` wrongly; its documented value is the string "egl".
            self.ctx = moderngl.create_standalone_context(backend="egl")  # type: ignore[arg-type]
        except Exception as error:  # moderngl raises plain Exceptions for missing EGL/GL
            raise RenderError(
                f"no headless OpenGL 3.3 context ({error}); install Mesa's EGL and DRI drivers "
                "(Debian: libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1)"
            ) from error
        self.city, self.camera = city, camera
        self.ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self._moderngl = moderngl
        self._programs()
        self._textures(shadow_map_size)
        self._buffers()
        self._lighting: Lighting | None = None
        self._light_view_proj = np.eye(4)

    def _programs(self) -> None:
        ctx = self.ctx
        self.scene_program = ctx.program(
            vertex_shader=SCENE_VERTEX_SHADER, fragment_shader=SCENE_FRAGMENT_SHADER
        )
        self.shadow_program = ctx.program(
            vertex_shader=SHADOW_VERTEX_SHADER, fragment_shader=SHADOW_FRAGMENT_SHADER
        )
        self.sky_program = ctx.program(
            vertex_shader=SKY_VERTEX_SHADER, fragment_shader=SKY_FRAGMENT_SHADER
        )
        vertices = city_vertices(self.city)
        self.vbo = ctx.buffer(vertices.tobytes())
        layout = "3f 3f 2f 2f 1f 1f"
        names = [
            "in_position",
            "in_normal",
            "in_layout_uv",
            "in_detail_uv",
            "in_layer",
            "in_detail",
        ]
        self.scene_vao = ctx.vertex_array(self.scene_program, [(self.vbo, layout, *names)])
        self.shadow_vao = ctx.vertex_array(
            self.shadow_program, [(self.vbo, "3f 36x", "in_position")]
        )
        self.sky_vao = ctx.vertex_array(self.sky_program, [])

    def _textures(self, shadow_map_size: int) -> None:
        ctx, city = self.ctx, self.city
        rng = np.random.default_rng(city.config.seed + 1)
        layers = np.stack(city.layout_layers)
        self.layout_texture = ctx.texture_array((*LAYOUT_SIZE, len(layers)), 3, layers.tobytes())
        details = np.stack(
            [textures.detail_material(name, rng) for name in textures.DETAIL_MATERIALS]
        )
        size = textures.DETAIL_SIZE
        self.detail_texture = ctx.texture_array((size, size, len(details)), 3, details.tobytes())
        ground = city.ground_texture
        self.ground_texture = ctx.texture(
            (ground.shape[1], ground.shape[0]), 3, np.ascontiguousarray(ground).tobytes()
        )
        for texture in (self.layout_texture, self.detail_texture, self.ground_texture):
            texture.build_mipmaps()
            texture.filter = (self._moderngl.LINEAR_MIPMAP_LINEAR, self._moderngl.LINEAR)
            texture.anisotropy = ANISOTROPY
        self.ground_texture.repeat_x = self.ground_texture.repeat_y = False
        self.shadow_map = ctx.depth_texture((shadow_map_size, shadow_map_size))
        self.shadow_map.compare_func = "<="
        self.shadow_map.filter = (self._moderngl.LINEAR, self._moderngl.LINEAR)
        self.shadow_map.repeat_x = self.shadow_map.repeat_y = False
        self.shadow_fbo = ctx.framebuffer(depth_attachment=self.shadow_map)
        self.shadow_texel = 1.0 / shadow_map_size

    def _buffers(self) -> None:
        ctx, size = self.ctx, (self.camera.width, self.camera.height)
        self.colour_fbo = ctx.framebuffer(
            color_attachments=[ctx.renderbuffer(size, 4)],
            depth_attachment=ctx.depth_renderbuffer(size),
        )
        self.geometry_fbo = ctx.framebuffer(
            color_attachments=[ctx.renderbuffer(size, 4), ctx.texture(size, 4, dtype="f4")],
            depth_attachment=ctx.depth_texture(size),
        )

    def set_lighting(self, lighting: Lighting) -> None:
        sun = np.asarray(lighting.sun_world, float)
        sun = sun / np.linalg.norm(sun)
        previous = self._lighting
        self._lighting = Lighting(sun, lighting.overcast, lighting.sun_intensity, lighting.ambient)
        if lighting.overcast or (
            previous is not None and not previous.overcast and np.allclose(previous.sun_world, sun)
        ):
            return
        self._light_view_proj = self._light_matrix(sun)
        self.shadow_fbo.clear(depth=1.0)
        self.shadow_fbo.use()
        self.ctx.polygon_offset = (2.0, 4.0)
        _set_matrix(self.shadow_program, "u_light_view_proj", self._light_view_proj)
        self.shadow_vao.render()
        self.ctx.polygon_offset = (0.0, 0.0)

    def _light_matrix(self, sun: NDArray[np.float64]) -> NDArray[np.float64]:
        """Orthographic view from the sun over the city's bounding box (objects and margin)."""
        gx0, gy0, gx1, gy1 = self.city.ground_extent
        top = max(b.z1 for b in self.city.boxes)
        corners = np.array([[x, y, z] for x in (gx0, gx1) for y in (gy0, gy1) for z in (0.0, top)])
        forward = -sun
        up_hint = np.array([0.0, 0.0, 1.0]) if abs(forward[2]) < 0.99 else np.array([0.0, 1.0, 0.0])
        right = np.cross(forward, up_hint)
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        view = np.eye(4)
        view[0, :3], view[1, :3], view[2, :3] = right, up, -forward
        local = corners @ view[:3, :3].T
        lo, hi = local.min(axis=0), local.max(axis=0)
        ortho = np.eye(4)
        ortho[0, 0], ortho[0, 3] = 2 / (hi[0] - lo[0]), -(hi[0] + lo[0]) / (hi[0] - lo[0])
        ortho[1, 1], ortho[1, 3] = 2 / (hi[1] - lo[1]), -(hi[1] + lo[1]) / (hi[1] - lo[1])
        near, far = -hi[2] - 1.0, -lo[2] + 1.0
        ortho[2, 2], ortho[2, 3] = -2 / (far - near), -(far + near) / (far - near)
        return ortho @ view

    def render(
        self, T_wc: Transform, shadows: bool = True, with_depth: bool = False
    ) -> RenderOutput:
        """The image seen from camera pose T_wc (optical frame); with_depth adds metric depth and
        the world point seen at each pixel (an extra pass without anti-aliasing)."""
        if self._lighting is None:
            raise RenderError("call set_lighting before render")
        self._set_uniforms(T_wc, shadows)
        self._draw(self.colour_fbo)
        rgb = np.frombuffer(self.colour_fbo.read(components=3, attachment=0), np.uint8)
        rgb = rgb.reshape(self.camera.height, self.camera.width, 3)[::-1].copy()
        output = RenderOutput(rgb)
        if with_depth:
            self._draw(self.geometry_fbo)
            output.points_world, output.depth = self._read_geometry(T_wc)
        return output

    def _set_uniforms(self, T_wc: Transform, shadows: bool) -> None:
        assert self._lighting is not None
        lighting = self._lighting
        view_proj = projection_from_K(self.camera) @ view_from_T_wc(T_wc)
        scene, sky = self.scene_program, self.sky_program
        _set_matrix(scene, "u_view_proj", view_proj)
        _set_matrix(scene, "u_light_view_proj", self._light_view_proj)
        _set_value(scene, "u_sun", tuple(lighting.sun_world))
        _set_value(scene, "u_sun_intensity", lighting.sun_intensity)
        _set_value(scene, "u_ambient", lighting.ambient)
        _set_value(scene, "u_overcast", int(lighting.overcast))
        _set_value(scene, "u_shadows", int(shadows and not lighting.overcast))
        _set_value(scene, "u_shadow_texel", (self.shadow_texel, self.shadow_texel))
        samplers: list[tuple[str, Any]] = [
            ("u_layout", self.layout_texture),
            ("u_detail", self.detail_texture),
            ("u_ground", self.ground_texture),
            ("u_shadow_map", self.shadow_map),
        ]
        for unit, (name, texture) in enumerate(samplers):
            texture.use(location=unit)
            _set_value(scene, name, unit)
        _set_matrix(sky, "u_inverse_view_proj", np.linalg.inv(view_proj))
        _set_value(sky, "u_sun", tuple(lighting.sun_world))
        _set_value(sky, "u_overcast", int(lighting.overcast))

    def _draw(self, fbo: Any) -> None:
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.ctx.disable(self._moderngl.DEPTH_TEST)  # the sky: behind everything, writes no depth
        self.sky_vao.render(self._moderngl.TRIANGLES, vertices=3)
        self.ctx.enable(self._moderngl.DEPTH_TEST)
        self.scene_vao.render()

    def _read_geometry(self, T_wc: Transform) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """World points from the float32 position target, and depth along the optical axis from them
        (exact to float32, unlike a 24-bit depth buffer at a hundred metres)."""
        h, w = self.camera.height, self.camera.width
        world = np.frombuffer(
            self.geometry_fbo.read(components=4, attachment=1, dtype="f4"), np.float32
        )
        world = world.reshape(h, w, 4)[::-1]
        hit = world[..., 3] > 0.5
        points = np.ascontiguousarray(world[..., :3])
        points[~hit] = np.nan
        z = T_wc.inverse().apply(points.reshape(-1, 3).astype(np.float64))[:, 2].reshape(h, w)
        depth = np.where(hit, z, np.inf).astype(np.float32)
        return points, depth

    def release(self) -> None:
        self.ctx.release()
