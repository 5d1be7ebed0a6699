"""Lab 3: aprender de la disposición de una imagen.

El lab 2 ocultó un dato de una imagen: hacia dónde es arriba. Este lab oculta otro: dónde están sus
partes. Corta una imagen en una cuadrícula de 3 x 3 parches y los parches por sí solos no dicen
dónde estaba cada uno; para saberlo, una red debe conocer cómo se ven las partes de los objetos y
cómo encajan entre sí (una rueda va debajo de la puerta de un coche, una oreja arriba de un ojo):
la estructura de contexto espacial. Dos tareas pretexto preguntan justo eso:

- **Predicción del contexto** (Doersch, Gupta y Efros, ICCV 2015, "Unsupervised Visual
  Representation Learning by Context Prediction"): dado el parche del centro y uno de sus ocho
  vecinos, decir cuál vecino es (8 clases).
- **Rompecabezas** (Noroozi y Favaro, ECCV 2016, "Unsupervised Learning of Visual
  Representations by Solving Jigsaw Puzzles"): dados los nueve parches barajados con una de un
  conjunto fijo de permutaciones, decir cuál permutación fue.

Los dos artículos dejan un *margen* entre los parches y *desplazan al azar* cada parche dentro de
su celda: parches que se tocaran, o que estuvieran en una cuadrícula exacta, podrían acomodarse
haciendo coincidir las líneas y texturas que cruzan sus bordes, un atajo que no enseña nada sobre
los objetos.

Una imagen de CIFAR-10 mide 32 x 32: las celdas de su cuadrícula miden 10 x 10 (las dos últimas
filas y columnas de píxeles no se usan) y cada parche mide 8 x 8, lo que deja un margen de al menos
2 píxeles entre dos parches centrados. Tus funciones aceptan cualquier lado de imagen, y el
experimento lo aprovecha: amplía cada imagen x3 (celdas de 32 píxeles, cerca de la escala para la
que se hizo el backbone), corta parches de 20 píxeles con tu `extract_patches` en un
desplazamiento aleatorio dentro de cada celda y se los pasa a tus funciones de la tarea. Un solo
*codificador de parches*, el backbone del lab 1 construido para entradas de 20 x 20, convierte
cada parche en un vector de características; sus convoluciones tienen el mismo tamaño con
cualquier tamaño de entrada, así que después del entrenamiento pretexto pasan al backbone de
32 x 32, al que `transfer` del lab 2 luego hace ajuste fino o sonda lineal con las 5,000 imágenes
etiquetadas.

Vas a escribir:

- `extract_patches`: la cuadrícula de parches, centrados o desplazados al azar;
- `relative_position_pairs`: las ternas (centro, vecino, etiqueta) de la tarea de contexto;
- `permutation_set` y `jigsaw_batch`: las permutaciones y los rompecabezas barajados de la tarea
  del rompecabezas;
- `build_context_model` y `build_jigsaw_model`: un solo codificador de parches compartido bajo la
  cabeza de cada tarea.

Las imágenes son `[B, S, S, C]` (cualquier dtype: los parches lo conservan), las etiquetas son
int32, y la aleatoriedad sale de una `seed` explícita (un int de Python o un tensor entero de forma
[2], ver `course.seeds`) sorteada con `tf.random.stateless_*`, un sorteo por imagen, nunca en un
ciclo de Python sobre las imágenes.

`course check lab3` califica tus funciones. `course experiment context --impl labs` (y `jigsaw`)
preentrena el codificador de parches con tu tarea, lo transfiere y lo compara con las demás filas.
"""
import itertools
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from course.seeds import as_seed

GRID = 3
"""La cuadrícula de ambas tareas: 3 x 3 celdas; la celda del centro es la 4, contando por filas."""

NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)
"""La celda de cada etiqueta de contexto 0..7 (por filas, saltándose el centro 4): 0 arriba a la
izquierda, 1 arriba, 2 arriba a la derecha, 3 izquierda, 4 derecha, 5 abajo a la izquierda, 6
abajo, 7 abajo a la derecha.
"""


# Ejercicio 3.1 (8 puntos): una cuadrícula de parches, con márgenes y desplazamiento aleatorio, en
# un solo gather.
def extract_patches(images, grid=3, patch_size=8, seed=None):
    """Corta cada imagen en una cuadrícula de `grid x grid` parches cuadrados, uno por celda.

    Una imagen de lado S tiene celdas de lado `S // grid`, que empiezan en su esquina superior
    izquierda (los píxeles sobrantes a la derecha y abajo no se usan). Cada parche está dentro de su
    celda; el margen a su alrededor es la separación entre parches vecinos.

    Argumentos:
        images: `[B, S, S, C]`, cualquier dtype.
        grid: celdas por lado.
        patch_size: el lado p de un parche, a lo más `S // grid`.
        seed: None centra cada parche en su celda (desplazamiento `(cell - p) // 2`); una semilla
            pone cada parche de cada imagen en su propio desplazamiento aleatorio dentro de su celda.

    Devuelve:
        `[B, grid * grid, p, p, C]`, mismo dtype: los parches, con las celdas por filas.
    """
    raise NotImplementedError("lab3.extract_patches: aún sin escribir; "
                              "`course hint lab3.extract_patches` te ayuda")


# Ejercicio 3.2 (6 puntos): las etiquetas de la tarea de contexto: dónde está un parche vecino. Se
# basa en `extract_patches`.
def relative_position_pairs(images, seed, patch_size=8):
    """La tarea de contexto: el parche del centro de cada imagen, uno de sus ocho vecinos, y cuál es.

    Argumentos:
        images: `[B, S, S, C]`, cualquier dtype.
        seed: elige el vecino de cada imagen, de manera uniforme entre los ocho.
        patch_size: el lado p de los parches centrados de una cuadrícula de 3 x 3.

    Devuelve:
        `(center, neighbor, label)`: parches del centro `[B, p, p, C]`, vecinos `[B, p, p, C]` (con
        el mismo dtype que las imágenes) y etiquetas int32 `[B]` en 0..7, la celda del vecino por
        filas saltándose el centro (`NEIGHBOURS`).
    """
    raise NotImplementedError("lab3.relative_position_pairs: aún sin escribir; "
                              "`course hint lab3.relative_position_pairs` te ayuda")


# Ejercicio 3.3 (6 puntos): un conjunto de permutaciones por el punto más lejano (distancia de
# Hamming).
def permutation_set(num_permutations, num_patches=9, seed=0):
    """Un conjunto de permutaciones alejadas entre sí, para la tarea del rompecabezas.

    Selección del punto más lejano: empieza con una permutación y luego agrega una y otra vez la
    permutación cuya menor distancia de Hamming (el número de posiciones en que dos permutaciones
    difieren) a las ya elegidas sea la más grande. Cuanto más difieren las permutaciones, menos puede
    una red confundir dos rompecabezas que se resuelven casi igual.

    Argumentos:
        num_permutations: cuántas permutaciones, N, a lo más `num_patches!`.
        num_patches: la longitud de una permutación (9 para un rompecabezas de 3 x 3).
        seed: elige la primera permutación y desempata entre candidatas igual de lejanas.

    Devuelve:
        Un arreglo entero de NumPy `[N, num_patches]` de permutaciones distintas de
        `range(num_patches)`.
    """
    raise NotImplementedError("lab3.permutation_set: aún sin escribir; "
                              "`course hint lab3.permutation_set` te ayuda")


# Ejercicio 3.4 (7 puntos): barajar parches con una permutación por imagen. Se basa en
# `extract_patches`.
def jigsaw_batch(images, permutations, seed, patch_size=8):
    """La tarea del rompecabezas: los nueve parches centrados de cada imagen, barajados con una
    permutación aleatoria.

    Argumentos:
        images: `[B, S, S, C]`, cualquier dtype.
        permutations: enteros `[N, 9]`, p. ej. de `permutation_set`.
        seed: elige la permutación de cada imagen, de manera uniforme entre las N.
        patch_size: el lado p de los parches centrados de una cuadrícula de 3 x 3.

    Devuelve:
        `(tiles, label)`: piezas `[B, 9, p, p, C]` (con el mismo dtype que las imágenes) con
        `tiles[i, j] == patches[i, permutations[label[i], j]]`, y las etiquetas int32 `[B]`.
    """
    raise NotImplementedError("lab3.jigsaw_batch: aún sin escribir; "
                              "`course hint lab3.jigsaw_batch` te ayuda")


# Ejercicio 3.5 (5 puntos): una red siamesa: un codificador, dos parches, una cabeza.
def build_context_model(patch_encoder):
    """La red de la tarea de contexto: el centro y el vecino por un solo codificador, 8 logits.

    Doersch et al. codifican ambos parches con los mismos pesos (una red siamesa de "fusión tardía"),
    para que las características digan qué muestra un parche y no de dónde salió, y solo la cabeza,
    que ve ambas características lado a lado, aprende cómo se acomodan las partes.

    Argumentos:
        patch_encoder: un modelo funcional de un parche `(p, p, C)` a un vector de características;
            ambos parches comparten sus pesos, así que entrenar este modelo entrena el codificador.

    Devuelve:
        Un `keras.Model` funcional de `[center, neighbor]` (dos lotes `[B, p, p, C]`) a logits
        float32 `[B, 8]`.
    """
    raise NotImplementedError("lab3.build_context_model: aún sin escribir; "
                              "`course hint lab3.build_context_model` te ayuda")


# Ejercicio 3.6 (5 puntos): un codificador sobre nueve piezas, sus características en orden.
def build_jigsaw_model(patch_encoder, num_permutations):
    """La red de la tarea del rompecabezas: nueve piezas por un solo codificador, un logit por
    permutación.

    La "red libre de contexto" de Noroozi y Favaro: el codificador compartido codifica cada pieza por
    separado, así que ninguna capa debajo de la cabeza ve dos piezas a la vez, y la cabeza lee los
    nueve vectores de características en el orden de sus posiciones para nombrar la permutación.

    Argumentos:
        patch_encoder: un modelo funcional de un parche `(p, p, C)` a un vector de características,
            compartido por las nueve piezas.
        num_permutations: N, el número de clases.

    Devuelve:
        Un `keras.Model` funcional de piezas `[B, 9, p, p, C]` a logits float32 `[B, N]`.
    """
    raise NotImplementedError("lab3.build_jigsaw_model: aún sin escribir; "
                              "`course hint lab3.build_jigsaw_model` te ayuda")
