"""The course in Spanish: the switch, the catalogs' completeness, and what a student and a TA read
(`course hint`, the reports' words, the checks' names and messages) in both languages."""

from __future__ import annotations

import json

import pytest

from course import catalogs, i18n, registry
from course.grading import reports
from tests.commands import course
from tests.test_grading import made_up


@pytest.fixture
def spanish():
    with i18n.speaking("es"):
        yield


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({}, "en"),
        ({"LANG": "es_MX.UTF-8"}, "es"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "es_ES.UTF-8"}, "es"),
        ({"LANGUAGE": "es:en", "LANG": "en_US.UTF-8"}, "es"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"COURSE_LANG": "es", "LANG": "en_US.UTF-8"}, "es"),
        ({"COURSE_LANG": "en", "LANG": "es_MX.UTF-8"}, "en"),
        ({"LANGUAGE": "fr", "LANG": "es_MX.UTF-8"}, "en"),
    ],
)
def test_the_switch_reads_course_lang_then_the_locale(monkeypatch, environment, expected):
    for variable in ("COURSE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert i18n.language() == expected


def test_po_files_round_trip(tmp_path):
    path = tmp_path / "es" / "LC_MESSAGES" / "x.po"
    entries = [
        ("a.py:1", 'a "quoted"\ttab\nand a second line\n', "una línea\ny otra\n"),
        ("a.py:2", "back\\slash {x} {{literal}}", "barra\\invertida {x} {{literal}}"),
        ("a.py:3", "not yet translated", ""),
    ]
    catalogs.write_po(path, "# notes\n", entries)
    read = i18n.read_po(path)
    assert read[entries[0][1]] == entries[0][2] and read[entries[1][1]] == entries[1][2]
    assert entries[2][1] not in read  # an empty msgstr is a missing translation
    assert catalogs.po_header(path) == "# notes\n"


@pytest.mark.parametrize("domain", ["course", "checks", "labs", "experiments"])
def test_every_text_has_a_spanish_translation(domain):
    """Text added anywhere (a message, a hint, a check) shows up here until it is translated:
    `course translate` adds it to the catalog for the translator."""
    missing = catalogs.missing(domain, "es")
    assert not missing, (
        f"{len(missing)} texts of the {domain!r} catalog have no Spanish translation (run"
        f" 'course translate' and fill course/locale/es/LC_MESSAGES/{domain}.po), e.g. "
        + "; ".join(f"{where}: {text[:80]!r}" for text, where in list(missing.items())[:5])
    )


@pytest.mark.parametrize("domain", ["course", "checks", "experiments"])
def test_translations_keep_their_placeholders(domain):
    """A translation names only the placeholders of its text (a value may move or be left out,
    never be invented), so that filling it cannot fail."""
    for msgid, msgstr in i18n.read_po(i18n.po_path(domain, "es")).items():
        if not msgid:
            continue
        wrong = set(i18n.split_template(msgstr)[1]) - set(i18n.split_template(msgid)[1])
        assert not wrong, f"{msgid!r} is translated with placeholders it does not have: {wrong}"
        if domain == "course":
            msgstr.format(**{name: "x" for name in i18n.split_template(msgid)[1]})


def test_the_catalog_header_names_the_workshops_vocabulary():
    header = catalogs.po_header(i18n.po_path("labs", "es"))
    for term in (
        "aprendizaje autosupervisado",
        "tarea pretexto",
        "backbone",
        "columna vertebral",
        "sonda lineal",
        "ajuste fino",
        "estructura de contexto espacial",
        "¿cuál es la rotación de la imagen?",
    ):
        assert term in header


def test_every_hint_at_every_level_is_in_spanish(stubs):
    from course.release import hints

    for lab in registry.LABS.values():
        for exercise in lab.exercises:
            for level, text in enumerate(hints(exercise.key, stubs), 1):
                assert i18n.lab_text(text, "es"), f"{exercise.key} hint {level} has no Spanish"


def test_course_hint_speaks_spanish_by_switch_locale_and_option():
    by_variable = course("hint", "lab2.rotate", "--level", "2", env=_env(COURSE_LANG="es"))
    by_locale = course("hint", "lab2.rotate", "--level", "2", env=_env(LANG="es_MX.UTF-8"))
    by_option = course("--lang", "es", "hint", "lab2.rotate", "--level", "2")
    for result in (by_variable, by_locale, by_option):
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("lab2.rotate, pista 2 de 3 (la API):")
        assert "gira en sentido antihorario" in result.stdout
        assert "Más: course hint lab2.rotate --level 3" in result.stdout
    english = course("hint", "lab2.rotate", "--level", "3")
    assert english.stdout.startswith("lab2.rotate, hint 3 of 3 (nearly the code):")


def _env(**variables: str) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_LANG", "LANG", "LC_ALL")}
    return {**env, **variables}


def test_the_terminal_report_in_spanish(spanish):
    submission = made_up()
    i18n.translate_report(submission)
    text = reports.text_report(submission, student=True)
    assert "pruebas ocultas por 8 puntos se corren cuando califica el equipo del curso" in text
    assert text.splitlines()[-1] == (
        "pruebas públicas: 1/3 pasaron; las pruebas ocultas se corren al calificar"
    )
    assert "alice: 2/8 en las pruebas públicas (sin correr: 1 prueba por 3 puntos;" in text
    assert "ejercicio" in text.splitlines()[1] and "puntos" in text.splitlines()[1]


def test_results_json_in_spanish_keeps_its_keys_and_scores(tmp_path, spanish):
    english = reports.gradescope(made_up())
    submission = made_up()
    i18n.translate_report(submission)
    path = reports.write_json(tmp_path / "results.json", submission)
    data = json.loads(path.read_text())
    assert set(data) == set(english) and [set(t) for t in data["tests"]] == [
        set(t) for t in english["tests"]
    ]
    for key in ("score", "max_score", "execution_time"):
        assert data[key] == english[key]
    assert [(t["score"], t.get("status")) for t in data["tests"]] == [
        (t["score"], t.get("status")) for t in english["tests"]
    ]
    assert data["output"].startswith("Total: 2/8") and "Aislamiento:" in data["output"]
    assert "1 prueba excedió su tiempo" in data["extra_data"]["labs"]["lab1"]["problems"]
    assert data["tests"][2]["output"].startswith("No se revisó aquí")


def test_csv_headers_stay_machine_readable(tmp_path, spanish):
    import csv

    submission = made_up()
    i18n.translate_report(submission)
    path = reports.write_csv(tmp_path / "grades.csv", [submission], ["lab1"])
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["submission", "lab1", "total", "max_total", "problems"]
    assert rows[0]["problems"] == "lab1: 1 prueba excedió su tiempo"


def test_every_message_template_is_recognised_in_a_finished_message():
    """A message made from any template of the checks (its placeholders filled) comes back as
    that template's translation, the values in their places: the matcher finds the template."""
    for msgid, msgstr in i18n.read_po(i18n.po_path("checks", "es")).items():
        names = i18n.split_template(msgid)[1]
        if not names:
            continue
        values = {name: f"<{index}>" for index, name in enumerate(dict.fromkeys(names))}
        assert i18n.message(i18n.fill(msgid, values), "es") == i18n.fill(msgstr, values), msgid


def test_messages_made_of_messages_are_translated_part_by_part():
    english = (
        "with k = [0, 1, 2, 3, 3, 1], image 1 should be rotated by k = 1; it came back as the"
        " image turned 90 degrees clockwise: rotate counter-clockwise, as np.rot90(image, k)"
        " does. Every image was rotated by the first k: rotate each image by its own k[i]."
    )
    assert i18n.message(english, "es") == (
        "con k = [0, 1, 2, 3, 3, 1], la imagen 1 debe girarse por k = 1; volvió como la imagen"
        " girada 90 grados en sentido horario: gira en sentido antihorario, como lo hace"
        " np.rot90(image, k). Todas las imágenes se giraron por la primera k: gira cada imagen"
        " por su propia k[i]."
    )
    crashed = (
        "the process running your code died while running rotate(): it was killed by signal"
        " SIGSEGV (the Python interpreter crashed)."
    )
    assert i18n.message(crashed, "es") == (
        "el proceso que corría tu código murió al correr rotate(): lo mató la señal SIGSEGV"
        " (el intérprete de Python se cayó)."
    )
    appended = (
        "with embeddings of lengths 1e-4 to 1e4: expected NT-Xent 2.89748, got 2.75436; it"
        " matches the loss without the temperature: divide the similarities by the temperature"
    )
    assert i18n.message(appended, "es") == (
        "con embeddings de longitudes 1e-4 a 1e4: se esperaba NT-Xent 2.89748, se obtuvo 2.75436;"
        " coincide con la pérdida sin la temperatura: divide las similitudes entre la temperatura"
    )
    assert i18n.message("rotate() is not implemented yet; `course hint lab2.rotate` helps", "es")
    assert i18n.message("a value no catalog holds: 42", "es") == "a value no catalog holds: 42"
    assert i18n.message(english, "en") == english


def test_check_names_keep_their_lab_and_exercise():
    name = "lab2.rotate: an int tensor k [B] rotates each image by its own k"
    assert i18n.check_name(name, "es") == (
        "lab2.rotate: un tensor entero k [B] gira cada imagen por su propia k"
    )
    assert i18n.check_name(name, "en") == name


# --- the labs in Spanish, generated from the one master --------------------------------------


def code_only(source: str) -> str:
    """`source`'s code: its AST without docstrings (any string standing as a statement) and with
    the words of each `raise NotImplementedError(...)` left out; comments are not in an AST."""
    import ast

    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [
                statement
                for statement in body
                if not (
                    isinstance(statement, ast.Expr)
                    and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)
                )
            ]
            node.body = kept or [ast.Pass()]
        if (
            isinstance(node, ast.Raise)
            and isinstance(node.exc, ast.Call)
            and getattr(node.exc.func, "id", "") == "NotImplementedError"
        ):
            node.exc.args = []
    return ast.dump(tree)


def test_spanish_labs_are_the_english_labs_code(stubs):
    """labs/es/ holds the English labs' code, only its text translated: the same AST once the
    docstrings and the stubs' words are left out; its notebooks' graded cells are its .py."""
    from course.grading.notebooks import notebook_source
    from course.release import expected_labs

    expected = expected_labs()
    for lab in registry.LABS.values():
        english, spanish = expected[lab.file], expected[f"es/{lab.file}"]
        assert spanish != english and "Argumentos:" in spanish
        assert code_only(spanish) == code_only(english), f"es/{lab.file}: the code differs"
        assert (stubs / "es" / lab.file).read_text() == spanish
        notebook = stubs / "es" / f"{lab.module}.ipynb"
        assert code_only(notebook_source(notebook)) == code_only(english)
        assert "labs/es/" in notebook.read_text() and "Abrir en Colab" in notebook.read_text()


def test_the_solutions_translate_to_the_same_code():
    from course import ROOT

    for path in sorted((ROOT / "solutions").glob("lab*.py")):
        source = path.read_text()
        spanish = catalogs.translate_source(source, "es", str(path))
        assert code_only(spanish) == code_only(source), path.name


def test_a_text_without_translation_stops_the_spanish_labs():
    source = '"""A lab no catalog knows."""\nX = 1\n'
    with pytest.raises(catalogs.TranslationMissing, match="no es translation"):
        catalogs.translate_source(source, "es", "lab9_new.py")
    assert catalogs.translate_source(source, "en") == source
    # The release goes on meanwhile, the text left in English until it is translated.
    assert catalogs.translate_source(source, "es", strict=False) == source


def test_a_spanish_lab_or_notebook_grades_as_the_english_one(tmp_path, stubs):
    """The grader reads code, not words: lab 1's solution and its stub, each as the English .py,
    the Spanish .py and the Spanish notebook, graded by a grader speaking Spanish: the same
    points check by check, and a report in Spanish."""
    from course import ROOT
    from course.lab_notebook import lab_notebook
    from tests.commands import LIMITS

    lab = registry.LABS["lab1"]
    solution = (ROOT / "solutions" / lab.file).read_text()
    spanish = catalogs.translate_source(solution, "es", lab.file)
    with i18n.speaking("es"):
        spanish_notebook = lab_notebook(spanish, lab.key, f"labs/es/{lab.module}.ipynb")
    notebook = f"{lab.module}.ipynb"
    forms = {
        "solution-en": (lab.file, solution),
        "solution-es": (lab.file, spanish),
        "solution-es-notebook": (notebook, spanish_notebook),
        "stub-en": (lab.file, (stubs / lab.file).read_text()),
        "stub-es": (lab.file, (stubs / "es" / lab.file).read_text()),
        "stub-es-notebook": (notebook, (stubs / "es" / notebook).read_text()),
    }
    for name, (file, text) in forms.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / file).write_text(text)
    result = course(
        "--lang",
        "es",
        "grade",
        *(str(tmp_path / name) for name in forms),
        "--lab",
        "lab1",
        "--jobs",
        "3",
        "--json",
        str(tmp_path / "json") + "/",
        *LIMITS,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    reports = {
        name: json.loads((tmp_path / "json" / f"{name}.json").read_text()) for name in forms
    }

    def verdicts(name: str) -> list:
        return [(t["number"], t["score"], t.get("status")) for t in reports[name]["tests"]]

    for kind in ("solution", "stub"):
        for form in ("es", "es-notebook"):
            assert verdicts(f"{kind}-{form}") == verdicts(f"{kind}-en"), f"{kind}-{form}"
    assert reports["solution-en"]["score"] == reports["solution-en"]["max_score"] > 0
    assert reports["stub-es"]["score"] == 0
    stub_test = reports["stub-es"]["tests"][0]
    assert stub_test["name"] == (
        "lab1.standardize: las imágenes uint8 se escalan por 1/255 y luego se estandarizan por"
        " canal (salida float32)"
    )
    assert stub_test["output"] == (
        "standardize() todavía no está implementada; `course hint lab1.standardize` te ayuda"
    )
    assert "pruebas públicas" not in result.stdout and "alice" not in result.stdout
    assert "lab1.standardize" in result.stdout and "ejercicio" in result.stdout



def test_the_students_copy_carries_the_spanish_labs_and_readme(tmp_path):
    from course.release import student_copy

    copy = student_copy(tmp_path / "class")
    for lab in registry.LABS.values():
        assert (copy / "labs" / "es" / lab.file).is_file()
        assert (copy / "labs" / "es" / f"{lab.module}.ipynb").is_file()
    for domain in i18n.DOMAINS:
        assert (copy / "course" / "locale" / "es" / "LC_MESSAGES" / f"{domain}.po").is_file()
    readme = (copy / "README.md").read_text()
    assert "## En español" in readme and "COURSE_LANG=es" in readme


# --- the experiment's tables and figures ---------------------------------------------------------


def test_results_md_in_spanish_keeps_its_methods_and_results_json(tmp_path, spanish):
    from course.experiments.report import write_results

    results = {
        "experiment": "rotation",
        "budget": "quick",
        "rows": [
            {
                "method": method,
                "pretraining_images": 0,
                "labelled_images": 5000,
                "test_images": 5000,
                "accuracy": 52.9,
                "final_accuracy": 51.7,
                "seconds": 31.0,
            }
            for method in ("supervised", "rotation-linear")
        ],
        "command": "course experiment rotation",
        "date": "2026-12-07",
        "machine": "2-core CPU",
        "wall_seconds": 100.0,
        "data": "tfds",
        "impl": "solutions",
    }
    json_path, md_path = write_results(tmp_path, results)
    assert json.loads(json_path.read_text()) == results
    text = md_path.read_text()
    assert "| supervised | supervisado |" in text
    assert (
        "| rotation-linear | preentrenamiento de rotación + sonda lineal (backbone congelado) |"
        in (text)
    )
    assert "| method | entrenamiento | imágenes de preentrenamiento |" in text
    assert "- tiempo total: 1.7 min (100 s)" in text


def test_figure_words_in_spanish():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course import plots

    figure, axis = plt.subplots()
    axis.plot([1, 2], [3, 4], label="baseline")
    axis.set(xlabel="epoch", ylabel="test accuracy %", title="training loss")
    axis.legend()
    figure.suptitle("SimCLR pretraining: 3 epochs of 10 steps, batch 64")
    with i18n.speaking("es"):
        plots._translate(figure)
    assert (axis.get_xlabel(), axis.get_ylabel(), axis.get_title()) == (
        "época",
        "exactitud en prueba %",
        "pérdida de entrenamiento",
    )
    assert axis.get_legend().get_texts()[0].get_text() == "línea base"
    assert (
        figure._suptitle.get_text() == "preentrenamiento SimCLR: 3 épocas de 10 pasos, lote de 64"
    )
    plt.close(figure)
