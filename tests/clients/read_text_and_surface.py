#!/usr/bin/python3
"""An independent client of the マイナンバーカード, written only from docs/spec/card-measured.md (§6.10,
§7): it shares no code with myna-hil. Through PC/SC (pyscard) it reads the 券面事項入力補助AP
with secure messaging (its own RSA-OAEP and AES-CBC from python3-cryptography), the
券面事項確認AP card face, GET DATA at the MF level and the 共通AP card info, checks the card-face signature against the AP's CV certificate and a
challenge signature against the face key, and prints what it read as JSON.

usage: read_text_and_surface.py <reader> <text PIN> <照合番号B>
"""
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from smartcard.System import readers

TEXT_AP = bytes.fromhex("D3921000310001010408")
SURFACE_AP = bytes.fromhex("D3921000310001010402")
SHA256_PREFIX = bytes.fromhex("3031300D060960864801650304020105000420")
TRIPLE_PREFIX = bytes.fromhex("3071300D060960864801650304020105000460")


class CardError(Exception):
    pass


def connect(name):
    for reader in readers():
        if str(reader) == name:
            connection = reader.createConnection()
            connection.connect()
            return connection
    raise CardError(f"no reader {name!r} in {[str(r) for r in readers()]}")


def transmit(connection, apdu, expect=0x9000):
    data, sw1, sw2 = connection.transmit(list(apdu))
    sw = sw1 << 8 | sw2
    if expect is not None and sw != expect:
        raise CardError(f"{bytes(apdu[:4]).hex()} answered {sw:04X}, expected {expect:04X}")
    return bytes(data), sw


def select_ap(connection, aid):
    transmit(connection, bytes([0x00, 0xA4, 0x04, 0x0C, len(aid)]) + aid)


def select_ef(connection, fid):
    transmit(connection, bytes([0x00, 0xA4, 0x02, 0x0C, 0x02, fid >> 8, fid & 0xFF]))


def verify(connection, secret):
    transmit(connection, bytes([0x00, 0x20, 0x00, 0x80, len(secret)]) + secret)


def tlv(buffer, at=0):
    """(tag, value, end) of the BER-TLV at `at`."""
    tag_length = 2 if buffer[at] & 0x1F == 0x1F else 1
    tag = buffer[at:at + tag_length]
    position = at + tag_length
    first = buffer[position]
    if first < 0x80:
        length, position = first, position + 1
    else:
        count = first & 0x7F
        length = int.from_bytes(buffer[position + 1:position + 1 + count], "big")
        position += 1 + count
    return tag, buffer[position:position + length], position + length


def read_plain(connection):
    """The current EF in 256-byte chunks until the card says the offset is past the end."""
    out = b""
    while True:
        data, sw = transmit(
            connection, bytes([0x00, 0xB0, len(out) >> 8, len(out) & 0xFF, 0x00]), expect=None
        )
        if sw == 0x6B00:
            return out
        if sw != 0x9000:
            raise CardError(f"READ BINARY at {len(out)} answered {sw:04X}")
        out += data
        if len(data) < 256:
            return out


def public_key_90_91(encoded):
    if encoded[:2] != b"\x90\x03" or encoded[5:9] != b"\x91\x82\x01\x00":
        raise CardError("not a 90/91 key")
    exponent = int.from_bytes(encoded[2:5], "big")
    modulus = int.from_bytes(encoded[9:265], "big")
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


class Session:
    """Secure messaging of docs/spec/card-measured.md §6.10: counter IV, ISO padding, one 86 object."""

    def __init__(self, connection, delivery_key):
        material = os.urandom(32)
        cryptogram = delivery_key.encrypt(
            b"\xA0\x22\x80\x20" + material,
            padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
        )
        transmit(connection, bytes([0x80, 0xAE, 0x00, 0x00, 0x00, 0x01, 0x00]) + cryptogram)
        self.connection = connection
        self.key = material[:16]
        self.counter = 0

    def _iv(self):
        self.counter += 1
        encryptor = Cipher(algorithms.AES(self.key), modes.ECB()).encryptor()
        return encryptor.update(self.counter.to_bytes(16, "big")) + encryptor.finalize()

    def _seal(self, iv, plaintext):
        padded = plaintext + b"\x80" + b"\x00" * ((15 - len(plaintext)) % 16)
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        return bytes([0x86, len(ciphertext) + 1, 0x01]) + ciphertext

    def _open(self, iv, data):
        tag, value, end = tlv(data)
        if tag != b"\x86" or end != len(data) or value[0] != 0x01:
            raise CardError(f"not one 86 object: {data[:8].hex()}")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(value[1:]) + decryptor.finalize()
        unpadded = padded.rstrip(b"\x00")
        if not unpadded.endswith(b"\x80"):
            raise CardError("bad padding in the response")
        return unpadded[:-1]

    def select_ef(self, fid):
        obj = self._seal(self._iv(), bytes([fid >> 8, fid & 0xFF]))
        transmit(self.connection, bytes([0x08, 0xA4, 0x02, 0x0C, len(obj)]) + obj)

    def read_whole(self):
        iv = self._iv()
        data, _ = transmit(
            self.connection,
            bytes([0x08, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x05, 0x96, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00]),
        )
        return self._open(iv, data)


def read_text_ap(connection, pin):
    select_ap(connection, TEXT_AP)
    select_ef(connection, 0x0011)
    verify(connection, pin)
    select_ef(connection, 0x0006)
    session_key_file = read_plain(connection)
    _, encoded, _ = tlv(session_key_file)
    session = Session(connection, public_key_90_91(encoded))
    session.select_ef(0x0001)
    my_number_file = session.read_whole()
    if my_number_file[:3] != b"\xFF\x10\x0C":
        raise CardError("EF 0001 is not FF 10 0C")
    session.select_ef(0x0002)
    basic_four = session.read_whole()
    _, outer, _ = tlv(basic_four)
    _, table, _ = tlv(outer)
    fields = []
    for index in range(4):
        offset = int.from_bytes(table[2 * index:2 * index + 2], "big")
        _, value, _ = tlv(basic_four, offset)
        fields.append(value.decode("utf-8"))
    # A plain read in between leaves the session's counter alone: the next SM read works.
    select_ef(connection, 0x0004)
    read_plain(connection)
    session.select_ef(0x0001)
    if session.read_whole() != my_number_file:
        raise CardError("the second SM read differs")
    return {
        "my_number": my_number_file[3:15].decode("ascii"),
        "name": fields[0],
        "address": fields[1],
        "birth_date": fields[2],
        "sex": fields[3],
        "sm_commands": session.counter,
    }


def read_surface_ap(connection, collation_b):
    select_ap(connection, SURFACE_AP)
    select_ef(connection, 0x0004)
    certificate = read_plain(connection)
    if certificate[:10] != bytes.fromhex("7F218202335F4E820129"):
        raise CardError("EF 0004 is not a 7F21 / 5F4E CV certificate")
    issuer = public_key_90_91(certificate[10 + 32:10 + 297])
    select_ef(connection, 0x0012)
    verify(connection, collation_b)
    select_ef(connection, 0x0002)
    face = read_plain(connection)
    _, outer, _ = tlv(face)
    _, table, _ = tlv(outer)
    objects = {}
    for index in range(len(table) // 2):
        offset = int.from_bytes(table[2 * index:2 * index + 2], "big")
        tag, value, end = tlv(face, offset)
        objects[tag.hex().upper()] = (offset, value, end)

    def span(first, last):
        return face[objects[first][0]:objects[last][2]]

    hashes_96 = b"".join(
        hashlib.sha256(span(first, last)).digest()
        for first, last in (("DF22", "DF24"), ("DF25", "DF26"), ("DF27", "DF27"))
    )
    recovered = issuer.recover_data_from_signature(objects["DF28"][1], padding.PKCS1v15(), None)
    if recovered != TRIPLE_PREFIX + hashes_96:
        raise CardError("DF 28 does not sign the three hashes")
    face_key = public_key_90_91(objects["DF24"][1])
    challenge, _ = transmit(connection, bytes([0x00, 0x84, 0x00, 0x00, 0x10]))
    digest = hashlib.sha256(challenge).digest()
    signature, _ = transmit(connection, bytes([0x80, 0x2A, 0x00, 0x00, 0x33]) + SHA256_PREFIX + digest + b"\x00")
    face_key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    photo = objects["DF27"][1]
    return {
        "birth_date": objects["DF22"][1].decode("ascii"),
        "sex": objects["DF23"][1].decode("ascii"),
        "photo_is_jp2": photo[4:8] == b"jP  ",
        "name_image_is_png": objects["DF25"][1][1:4] == b"PNG",
        "expiry": objects["DF29"][1].decode("ascii"),
        "face_signature": "verified",
        "challenge_signature": "verified",
    }


ISD = bytes.fromhex("A0000001510000")
COMMON_AP = bytes.fromhex("D3921000310001010100")


def read_mf_and_common(connection):
    """GET DATA at the MF level (docs/spec/card-measured.md §3.2) and the 共通AP card info (§5.2)."""
    select_ap(connection, ISD)
    municipality, _ = transmit(connection, bytes([0x00, 0xCA, 0x00, 0xF0, 0x00]))
    _, short_le = transmit(connection, bytes([0x00, 0xCA, 0x00, 0xF8, 0x00]), expect=None)
    certificate, _ = transmit(connection, bytes([0x00, 0xCA, 0x00, 0xF8, 0x00, 0x00, 0x00]))
    select_ap(connection, COMMON_AP)
    select_ef(connection, 0x0001)
    record, _ = transmit(connection, bytes([0x00, 0xB2, 0x01, 0x04, 0x00]))
    if record[:2] != b"\x01\x1C":
        raise CardError("record 1 is not 01 1C")
    return {
        "municipality": municipality.decode("ascii"),
        "short_le_status": f"{short_le:04X}",
        "cv_object_length": len(certificate),
        "card_info": record[2:].decode("ascii"),
    }


def main():
    reader, pin, collation_b = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
    connection = connect(reader)
    result = {
        "mf": read_mf_and_common(connection),
        "text": read_text_ap(connection, pin),
        "surface": read_surface_ap(connection, collation_b),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    try:
        main()
    except CardError as error:
        print(f"card error: {error}", file=sys.stderr)
        sys.exit(1)
