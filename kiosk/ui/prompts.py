"""Spoken prompts for people who do not read: the attract screen and the identification
guidance, in each language, as short WAV files under ``kiosk/ui/static/audio/<lang>/``.

They are made once with espeak-ng (Debian package ``espeak-ng``) by
``python -m kiosk.ui.prompts`` and committed, so a kiosk needs no speech engine. espeak-ng
has Arabic and French voices but no Tamazight one: until a speaker records the Tamazight
prompts into ``audio/tzm/`` (same file names), ``prompt_file`` plays the Arabic ones. The
texts are here so a human recording can follow them word for word.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

AUDIO_DIR = Path(__file__).parent / "static" / "audio"
VOICES = {"ar": "ar", "fr": "fr-fr"}
FALLBACK = {"tzm": "ar"}  # no espeak-ng voice for Tamazight
RATE = 11025  # 8-bit, 11 kHz: speech stays clear and a prompt is a few tens of kilobytes

PROMPTS: dict[str, dict[str, str]] = {
    "attract": {
        "ar": "مرحبا. المس زر البدء، ثم أظهر شارتك وانظر إلى الكاميرا.",
        "fr": "Bienvenue. Touchez le bouton Commencer, puis montrez votre badge "
        "et regardez la caméra.",
    },
    "badge": {
        "ar": "ضع شارتك على القارئ.",
        "fr": "Posez votre badge sur le lecteur.",
    },
    "no_face": {"ar": "انظر إلى الكاميرا.", "fr": "Regardez la caméra."},
    "too_small": {"ar": "اقترب من الكاميرا.", "fr": "Approchez-vous."},
    "too_dark": {
        "ar": "المكان مظلم، واجه الضوء.",
        "fr": "Il fait trop sombre, tournez-vous vers la lumière.",
    },
    "too_bright": {"ar": "الضوء قوي جدا.", "fr": "Trop de lumière, écartez-vous du reflet."},
    "turned": {"ar": "انظر مباشرة إلى الكاميرا.", "fr": "Regardez droit vers la caméra."},
    "blurred": {"ar": "لا تتحرك.", "fr": "Ne bougez plus."},
    "several_faces": {
        "ar": "شخص واحد فقط من فضلك.",
        "fr": "Une seule personne à la fois, s'il vous plaît.",
    },
    "turn_left": {"ar": "أدر رأسك إلى اليسار.", "fr": "Tournez la tête vers la gauche."},
    "turn_right": {"ar": "أدر رأسك إلى اليمين.", "fr": "Tournez la tête vers la droite."},
    "not_recognised": {
        "ar": "لم نتعرف عليك. حاول مرة أخرى أو اطلب المساعدة من موظف.",
        "fr": "Vous n'avez pas été reconnu. Réessayez ou appelez un membre du personnel.",
    },
}


def _speak(text: str, voice: str, target: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(raw), text], check=True)  # nosec B603, B607  # espeak-ng with fixed arguments (a developer tool), no shell
        with wave.open(str(raw), "rb") as source:
            rate = source.getframerate()
            samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    positions = np.arange(0, len(samples), rate / RATE)
    resampled = np.interp(positions, np.arange(len(samples)), samples.astype(np.float32))
    target.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)  # 8-bit WAV is unsigned, centred on 128
        out.setframerate(RATE)
        out.writeframes((np.clip(resampled / 256 + 128, 0, 255)).astype(np.uint8).tobytes())


def generate(audio_dir: Path = AUDIO_DIR) -> list[Path]:
    """Write every prompt in every language; returns the files written."""
    written = []
    for key, texts in PROMPTS.items():
        for lang, voice in VOICES.items():
            target = audio_dir / lang / f"{key}.wav"
            _speak(texts[lang], voice, target)
            written.append(target)
    return written


def prompt_file(lang: str, key: str, audio_dir: Path = AUDIO_DIR) -> Path | None:
    """The recording of prompt ``key`` in ``lang``, or in its fallback language."""
    if key not in PROMPTS:
        return None
    for folder in (lang, FALLBACK.get(lang)):
        if folder is not None and (audio_dir / folder / f"{key}.wav").is_file():
            return audio_dir / folder / f"{key}.wav"
    return None


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    sys.exit(0)
